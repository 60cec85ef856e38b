"""A todo item and the rules for ordering and lateness."""

from dataclasses import asdict, dataclass
from datetime import date, datetime

DATE_FORMAT = "%Y-%m-%d"


def parse_due(text: str | None) -> str | None:
    """Checks a YYYY-MM-DD date; returns it unchanged, or raises ValueError."""
    if text is not None:
        datetime.strptime(text, DATE_FORMAT)
    return text


@dataclass
class Todo:
    id: int
    title: str
    due: str | None = None
    priority: int = 2
    done: bool = False

    def sort_key(self):
        return (self.done, self.priority, self.due or "9999")

    def is_overdue(self, today: date) -> bool:
        return bool(self.due) and self.due < today.strftime(DATE_FORMAT) and not self.done

    def line(self, today: date) -> str:
        mark = "x" if self.done else " "
        late = " (OVERDUE)" if self.is_overdue(today) else ""
        return f"[{mark}] #{self.id} P{self.priority} {self.title} {self.due or ''}{late}"

    def to_json(self) -> dict:
        return asdict(self)
