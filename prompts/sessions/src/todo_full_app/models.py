"""A todo and the rules about it: dates, ordering, lateness and repeats."""

import calendar
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta

DATE_FORMAT = "%Y-%m-%d"
PRIORITY_MARKS = {1: "!!!", 2: "!!", 3: "!"}
REPEATS = ("daily", "weekly", "monthly")
NO_DATE = "9999-99-99"  # sorts after every real date


def parse_date(text: str) -> date:
    return datetime.strptime(text, DATE_FORMAT).date()


def check_date(text: str | None) -> str | None:
    """Returns a YYYY-MM-DD text (or None) unchanged; raises ValueError on anything else."""
    if text is not None:
        parse_date(text)
    return text


def next_due(due: str, repeat: str) -> str:
    d = parse_date(due)
    if repeat == "daily":
        d += timedelta(days=1)
    elif repeat == "weekly":
        d += timedelta(weeks=1)
    else:
        # Same day next month, or the month's last day (31 January -> 28/29 February).
        year, month = (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)
        d = date(year, month, min(d.day, calendar.monthrange(year, month)[1]))
    return d.strftime(DATE_FORMAT)


@dataclass
class Todo:
    """One todo; the fields and their order are the JSON file's (version 2)."""

    id: int
    title: str
    done: bool = False
    due: str | None = None
    priority: int = 2
    tags: list[str] = field(default_factory=list)
    repeat: str | None = None
    created: str | None = None
    finished: str | None = None

    @classmethod
    def from_json(cls, item: dict) -> "Todo":
        # Version 1 items have only id, title, due, priority and done: the rest defaults.
        return cls(**item)

    def to_json(self) -> dict:
        return asdict(self)

    def is_overdue(self, today: date) -> bool:
        return not self.done and self.due is not None and self.due < today.strftime(DATE_FORMAT)

    def next_occurrence(self, new_id: int, today: date) -> "Todo":
        """The todo a repeating one leaves behind when it is finished."""
        return Todo(
            new_id, self.title, False, next_due(self.due, self.repeat), self.priority, list(self.tags), self.repeat,
            today.strftime(DATE_FORMAT), None,
        )


def sort_key(by: str):
    """Open todos first, then by `by` ("priority", "due" or "created"), then by id."""
    if by == "due":
        return lambda t: (t.done, t.due or NO_DATE, t.priority, t.id)
    if by == "created":
        return lambda t: (t.done, t.created or "", t.id)
    return lambda t: (t.done, t.priority, t.due or NO_DATE, t.id)
