"""Text the commands print: list lines, statistics, and the CSV and Markdown exports."""

import csv
import io
from datetime import date, timedelta

from todo_app.models import DATE_FORMAT, PRIORITY_MARKS, Todo

CSV_FIELDS = ["id", "title", "done", "due", "priority", "tags", "repeat", "created", "finished"]


def line(t: Todo, today: date) -> str:
    mark = "x" if t.done else " "
    parts = [f"[{mark}] #{t.id:<3} {PRIORITY_MARKS[t.priority]:<3} {t.title}"]
    if t.due:
        parts.append(f"due {t.due}")
    if t.repeat:
        parts.append(f"({t.repeat})")
    parts.extend(f"+{tag}" for tag in t.tags)
    if t.is_overdue(today):
        parts.append("OVERDUE")
    return "  ".join(parts)


def stats(todos: list[Todo], today: date) -> str:
    open_todos = [t for t in todos if not t.done]
    week_ago = (today - timedelta(days=7)).strftime(DATE_FORMAT)
    lines = [
        f"open: {len(open_todos)}  done: {len(todos) - len(open_todos)}  overdue: {sum(t.is_overdue(today) for t in todos)}",
        f"finished in the last 7 days: {sum(1 for t in todos if t.finished and t.finished > week_ago)}",
    ]
    by_tag: dict[str, int] = {}
    for t in open_todos:
        for tag in t.tags or ["(untagged)"]:
            by_tag[tag] = by_tag.get(tag, 0) + 1
    lines.extend(f"  {tag:<12} {count:>3}" for tag, count in sorted(by_tag.items(), key=lambda kv: (-kv[1], kv[0])))
    return "\n".join(lines)


def markdown(todos: list[Todo]) -> str:
    lines = ["| # | done | title | due | priority | tags |", "|---|---|---|---|---|---|"]
    for t in sorted(todos, key=lambda t: t.id):
        title = t.title.replace("|", "\\|")
        lines.append(f"| {t.id} | {'x' if t.done else ' '} | {title} | {t.due or ''} | {t.priority} | {' '.join(t.tags)} |")
    return "\n".join(lines)


def to_csv(todos: list[Todo]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for t in sorted(todos, key=lambda t: t.id):
        writer.writerow(dict(t.to_json(), tags=" ".join(t.tags), done=int(t.done)))
    return out.getvalue().rstrip("\n")
