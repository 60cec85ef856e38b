"""End-to-end tests of the todo CLI: each test runs it in a fresh HOME."""

import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


class TodoCliTest(unittest.TestCase):
    def setUp(self):
        self.home = tempfile.TemporaryDirectory()
        self.env = dict(os.environ, HOME=self.home.name)

    def tearDown(self):
        self.home.cleanup()

    def todo(self, *args, ok=True):
        run = subprocess.run([sys.executable, os.path.join(HERE, "todo.py"), *args], env=self.env, capture_output=True, text=True)
        if ok:
            self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        return run

    def stored(self):
        with open(os.path.join(self.home.name, ".todo.json")) as f:
            return json.load(f)

    def test_add_assigns_increasing_ids(self):
        self.assertEqual(self.todo("add", "buy milk").stdout, "added #1: buy milk\n")
        self.assertEqual(self.todo("add", "file taxes", "--due", "2026-04-30", "--priority", "1").stdout, "added #2: file taxes\n")
        self.assertEqual([t["id"] for t in self.stored()], [1, 2])

    def test_bad_dates_are_refused(self):
        run = self.todo("add", "x", "--due", "30.04.2026", ok=False)
        self.assertEqual((run.returncode, run.stdout), (1, "bad date: 30.04.2026\n"))

    def test_list_sorts_open_first_then_priority_then_due(self):
        self.todo("add", "later", "--priority", "3")
        self.todo("add", "urgent", "--priority", "1", "--due", "2020-01-01")
        self.todo("add", "done one", "--priority", "1")
        self.todo("done", "3")
        lines = self.todo("list").stdout.splitlines()
        self.assertEqual(lines, ["[ ] #2 P1 urgent 2020-01-01 (OVERDUE)", "[ ] #1 P3 later ", "[x] #3 P1 done one "])

    def test_done_and_rm_need_an_existing_id(self):
        self.todo("add", "a")
        run = self.todo("rm", "7", ok=False)
        self.assertEqual((run.returncode, run.stdout), (1, "no todo #7\n"))
        self.assertEqual(self.todo("rm", "1").stdout, "rm: #1\n")
        self.assertEqual(self.stored(), [])

    def test_no_command_prints_help(self):
        self.assertIn("Simple todo manager", self.todo().stdout)


if __name__ == "__main__":
    unittest.main()
