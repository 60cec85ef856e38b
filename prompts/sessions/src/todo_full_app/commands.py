"""The commands, as functions of the stored todos: each returns (exit code, output) and never
prints or exits, so that they can be tested without a subprocess."""

import csv
from datetime import date, timedelta

from todo_app import render, storage
from todo_app.models import DATE_FORMAT, PRIORITY_MARKS, Todo, check_date, sort_key

Result = tuple[int, str]


def _find(todos: list[Todo], todo_id: int) -> Todo | None:
    return next((t for t in todos if t.id == todo_id), None)


def add(title: str, due: str | None, priority: int, tags: list[str], repeat: str | None, today: date) -> Result:
    todos, next_id = storage.load()
    try:
        check_date(due)
    except ValueError:
        return 1, f"bad date: {due}"
    if repeat and not due:
        return 1, "a repeating todo needs --due"
    todos.append(Todo(next_id, title, False, due, priority, sorted(set(tags)), repeat, today.strftime(DATE_FORMAT), None))
    storage.save(todos, next_id + 1)
    return 0, f"added #{next_id}: {title}"


def list_todos(today: date, show_all: bool = False, tag: str | None = None, overdue: bool = False, sort: str = "priority") -> Result:
    todos, _ = storage.load()
    shown = [t for t in todos if (show_all or not t.done) and (tag is None or tag in t.tags) and (not overdue or t.is_overdue(today))]
    if not shown:
        return 0, "nothing to do"
    return 0, "\n".join(render.line(t, today) for t in sorted(shown, key=sort_key(sort)))


def done(todo_id: int, today: date) -> Result:
    todos, next_id = storage.load()
    t = _find(todos, todo_id)
    if t is None:
        return 1, f"no todo #{todo_id}"
    if t.done:
        return 1, f"#{todo_id} is already done"
    t.done = True
    t.finished = today.strftime(DATE_FORMAT)
    message = f"done: #{todo_id}"
    if t.repeat:
        nxt = t.next_occurrence(next_id, today)
        todos.append(nxt)
        message += f" (next: #{nxt.id} due {nxt.due})"
        next_id += 1
    storage.save(todos, next_id)
    return 0, message


def undo(todo_id: int) -> Result:
    todos, next_id = storage.load()
    t = _find(todos, todo_id)
    if t is None:
        return 1, f"no todo #{todo_id}"
    if not t.done:
        return 1, f"#{todo_id} is not done"
    t.done, t.finished = False, None
    storage.save(todos, next_id)
    return 0, f"undone: #{todo_id}"


def remove(todo_id: int) -> Result:
    todos, next_id = storage.load()
    t = _find(todos, todo_id)
    if t is None:
        return 1, f"no todo #{todo_id}"
    todos.remove(t)
    storage.save(todos, next_id)
    return 0, f"rm: #{todo_id}"


def tag(todo_id: int, add_tags: list[str], remove_tags: list[str]) -> Result:
    todos, next_id = storage.load()
    t = _find(todos, todo_id)
    if t is None:
        return 1, f"no todo #{todo_id}"
    t.tags = sorted(set(t.tags).union(add_tags).difference(remove_tags))
    storage.save(todos, next_id)
    return 0, f"#{todo_id}: " + (" ".join(f"+{x}" for x in t.tags) or "no tags")


def search(words: list[str], today: date) -> Result:
    todos, _ = storage.load()
    words = [w.lower() for w in words]
    found = [t for t in todos if all(w in t.title.lower() for w in words)]
    if not found:
        return 1, "no match"
    return 0, "\n".join(render.line(t, today) for t in sorted(found, key=sort_key("priority")))


def stats(today: date) -> Result:
    todos, _ = storage.load()
    return 0, render.stats(todos, today)


def export(fmt: str) -> Result:
    todos, _ = storage.load()
    return 0, render.markdown(todos) if fmt == "markdown" else render.to_csv(todos)


def import_csv(path: str, today: date) -> Result:
    """Adds every row of a CSV file made by `export`, or none if one row is not a todo."""
    todos, next_id = storage.load()
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    new = []
    for n, row in enumerate(rows, start=2):
        try:
            priority = int(row["priority"] or 2)
            if priority not in PRIORITY_MARKS or not row["title"]:
                raise ValueError
            check_date(row["due"] or None)
        except (KeyError, ValueError):
            return 1, f"{path}:{n}: not a todo row; nothing imported"
        new.append(Todo(
            next_id + len(new), row["title"], row["done"] == "1", row["due"] or None, priority, sorted(set(row["tags"].split())),
            row["repeat"] or None, row["created"] or today.strftime(DATE_FORMAT), row["finished"] or None,
        ))
    storage.save(todos + new, next_id + len(new))
    return 0, f"imported {len(new)} todos"


def purge(older_than_days: int, today: date) -> Result:
    todos, next_id = storage.load()
    cutoff = (today - timedelta(days=older_than_days)).strftime(DATE_FORMAT)
    kept = [t for t in todos if not (t.done and (t.finished or "") <= cutoff)]
    storage.save(kept, next_id)
    return 0, f"purged {len(todos) - len(kept)} todos"
