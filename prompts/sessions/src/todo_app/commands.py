"""The commands, as functions of the stored todos: each returns (exit code, output)."""

from datetime import date

from todo_app import storage
from todo_app.models import Todo, parse_due


def add(title: str, due: str | None, priority: int) -> tuple[int, str]:
    try:
        parse_due(due)
    except ValueError:
        return 1, f"bad date: {due}"
    todos = storage.load()
    new_id = max((t.id for t in todos), default=0) + 1
    todos.append(Todo(new_id, title, due, priority))
    storage.save(todos)
    return 0, f"added #{new_id}: {title}"


def list_todos(today: date) -> tuple[int, str]:
    todos = sorted(storage.load(), key=Todo.sort_key)
    return 0, "\n".join(t.line(today) for t in todos)


def finish(todo_id: int, remove: bool) -> tuple[int, str]:
    todos = storage.load()
    if not any(t.id == todo_id for t in todos):
        return 1, f"no todo #{todo_id}"
    if remove:
        todos = [t for t in todos if t.id != todo_id]
    else:
        for t in todos:
            if t.id == todo_id:
                t.done = True
    storage.save(todos)
    return 0, f"{'rm' if remove else 'done'}: #{todo_id}"
