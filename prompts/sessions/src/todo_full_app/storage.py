"""Where todos live: one JSON file, ~/.todo.json or $TODO_FILE, always written whole and atomically."""

import json
import os
import tempfile

from todo_app.models import Todo

FILE_VERSION = 2


class StorageError(Exception):
    pass


def db_path() -> str:
    # Resolved on every call so that tests (and users) can point TODO_FILE or HOME elsewhere.
    return os.environ.get("TODO_FILE") or os.path.expanduser("~/.todo.json")


def load() -> tuple[list[Todo], int]:
    """Returns (todos, next_id). Version 1 files (a bare list, before tags) are upgraded."""
    path = db_path()
    if not os.path.exists(path):
        return [], 1
    with open(path) as f:
        data = json.load(f)
    if isinstance(data, list):
        todos = [Todo.from_json(item) for item in data]
        return todos, max((t.id for t in todos), default=0) + 1
    if data.get("version") != FILE_VERSION:
        raise StorageError(f"unsupported file version {data.get('version')} in {path}")
    return [Todo.from_json(item) for item in data["todos"]], data["next_id"]


def save(todos: list[Todo], next_id: int) -> None:
    """A crash leaves the old file, never half a new one."""
    path = db_path()
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), prefix=".todo-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump({"version": FILE_VERSION, "next_id": next_id, "todos": [t.to_json() for t in todos]}, f, indent=2)
    os.replace(tmp, path)
