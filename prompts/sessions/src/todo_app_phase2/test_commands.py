"""Unit tests of todo_app.commands: no subprocess, HOME points at a scratch directory."""

import os
import tempfile
import unittest
from datetime import date
from unittest import mock

from todo_app import commands, storage


class CommandsTest(unittest.TestCase):
    def setUp(self):
        self.home = tempfile.TemporaryDirectory()
        patcher = mock.patch.dict(os.environ, {"HOME": self.home.name})
        patcher.start()
        self.addCleanup(patcher.stop)
        self.addCleanup(self.home.cleanup)

    def test_add_numbers_from_one_and_stores_the_fields(self):
        self.assertEqual(commands.add("a", None, 2), (0, "added #1: a"))
        self.assertEqual(commands.add("b", "2026-05-01", 1), (0, "added #2: b"))
        second = storage.load()[1]
        self.assertEqual((second.id, second.title, second.due, second.priority, second.done), (2, "b", "2026-05-01", 1, False))

    def test_add_refuses_a_bad_date_and_stores_nothing(self):
        self.assertEqual(commands.add("a", "tomorrow", 2), (1, "bad date: tomorrow"))
        self.assertEqual(storage.load(), [])

    def test_list_marks_overdue_open_items_only(self):
        commands.add("late", "2026-01-01", 2)
        commands.add("late but done", "2026-01-01", 2)
        commands.finish(2, remove=False)
        code, out = commands.list_todos(date(2026, 2, 1))
        self.assertEqual(code, 0)
        self.assertEqual(out.splitlines(), ["[ ] #1 P2 late 2026-01-01 (OVERDUE)", "[x] #2 P2 late but done 2026-01-01"])

    def test_finish_unknown_id(self):
        self.assertEqual(commands.finish(9, remove=True), (1, "no todo #9"))


if __name__ == "__main__":
    unittest.main()
