"""Where todos live: a JSON list in ~/.todo.json (the format todo.py always used)."""

import json
import os

from todo_app.models import Todo


def db_path() -> str:
    # Resolved on every call so that tests (and users) can point HOME elsewhere.
    return os.path.expanduser("~/.todo.json")


def load() -> list[Todo]:
    path = db_path()
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [Todo(**item) for item in json.load(f)]


def save(todos: list[Todo]) -> None:
    with open(db_path(), "w") as f:
        json.dump([t.to_json() for t in todos], f, indent=2)
