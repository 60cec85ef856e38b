"""Unit tests of todo_app.commands and todo_app.storage: no subprocess, TODO_FILE in a scratch directory."""

import json
import os
import tempfile
import unittest
from datetime import date
from unittest import mock

from todo_app import commands, storage
from todo_app.models import Todo

TODAY = date(2026, 3, 10)


class ScratchFileTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.file = os.path.join(self.dir.name, "todo.json")
        patcher = mock.patch.dict(os.environ, {"TODO_FILE": self.file})
        patcher.start()
        self.addCleanup(patcher.stop)
        self.addCleanup(self.dir.cleanup)

    def todos(self):
        return storage.load()[0]


class StorageTest(ScratchFileTest):
    def test_a_missing_file_is_empty(self):
        self.assertEqual(storage.load(), ([], 1))

    def test_round_trip_keeps_the_version_2_layout(self):
        storage.save([Todo(1, "a", tags=["x"])], 2)
        with open(self.file) as f:
            data = json.load(f)
        self.assertEqual(list(data), ["version", "next_id", "todos"])
        self.assertEqual(list(data["todos"][0]), ["id", "title", "done", "due", "priority", "tags", "repeat", "created", "finished"])
        self.assertEqual(storage.load(), ([Todo(1, "a", tags=["x"])], 2))

    def test_version_1_is_upgraded(self):
        with open(self.file, "w") as f:
            json.dump([{"id": 3, "title": "old", "due": None, "priority": 1, "done": True}], f)
        self.assertEqual(storage.load(), ([Todo(3, "old", done=True, priority=1)], 4))

    def test_unknown_versions_are_refused(self):
        with open(self.file, "w") as f:
            json.dump({"version": 7, "next_id": 1, "todos": []}, f)
        with self.assertRaisesRegex(storage.StorageError, "unsupported file version 7"):
            storage.load()

    def test_save_leaves_no_temporary_files(self):
        storage.save([], 1)
        self.assertEqual(os.listdir(self.dir.name), ["todo.json"])


class CommandsTest(ScratchFileTest):
    def test_add_and_list(self):
        self.assertEqual(commands.add("a", "2026-03-09", 1, ["w", "w"], None, TODAY), (0, "added #1: a"))
        self.assertEqual(commands.list_todos(TODAY), (0, "[ ] #1   !!! a  due 2026-03-09  +w  OVERDUE"))
        self.assertEqual(self.todos()[0].created, "2026-03-10")

    def test_add_refuses_bad_input_and_stores_nothing(self):
        self.assertEqual(commands.add("a", "2026-02-30", 2, [], None, TODAY), (1, "bad date: 2026-02-30"))
        self.assertEqual(commands.add("a", None, 2, [], "daily", TODAY), (1, "a repeating todo needs --due"))
        self.assertFalse(os.path.exists(self.file))

    def test_done_on_a_repeating_todo(self):
        commands.add("rent", "2026-01-31", 2, [], "monthly", TODAY)
        self.assertEqual(commands.done(1, TODAY), (0, "done: #1 (next: #2 due 2026-02-28)"))
        first, nxt = self.todos()
        self.assertEqual((first.done, first.finished), (True, "2026-03-10"))
        self.assertEqual((nxt.due, nxt.created, nxt.finished), ("2026-02-28", "2026-03-10", None))

    def test_unknown_ids(self):
        for result in (commands.done(5, TODAY), commands.undo(5), commands.remove(5), commands.tag(5, ["x"], [])):
            self.assertEqual(result, (1, "no todo #5"))

    def test_import_is_all_or_nothing(self):
        path = os.path.join(self.dir.name, "in.csv")
        with open(path, "w") as f:
            f.write("id,title,done,due,priority,tags,repeat,created,finished\n1,ok,0,,2,a b,,,\n2,,0,,2,,,,\n")
        self.assertEqual(commands.import_csv(path, TODAY), (1, f"{path}:3: not a todo row; nothing imported"))
        self.assertEqual(self.todos(), [])

    def test_purge_keeps_open_and_recent_todos(self):
        for title in ("open", "old", "recent"):
            commands.add(title, None, 2, [], None, TODAY)
        commands.done(2, date(2026, 2, 1))
        commands.done(3, date(2026, 3, 9))
        self.assertEqual(commands.purge(7, TODAY), (0, "purged 1 todos"))
        self.assertEqual([t.title for t in self.todos()], ["open", "recent"])


if __name__ == "__main__":
    unittest.main()
