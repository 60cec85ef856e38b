"""End-to-end tests of the todo CLI: each test runs it as a user would, on a fresh file."""

import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


class TodoCliTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.file = os.path.join(self.dir.name, "todo.json")
        self.env = dict(os.environ, TODO_FILE=self.file, TODO_TODAY="2026-03-10")

    def tearDown(self):
        self.dir.cleanup()

    def todo(self, *args, code=0):
        run = subprocess.run([sys.executable, os.path.join(HERE, "todo.py"), *args], env=self.env, capture_output=True, text=True)
        self.assertEqual(run.returncode, code, run.stdout + run.stderr)
        return run.stdout

    def stored(self):
        with open(self.file) as f:
            return json.load(f)

    def test_add_assigns_increasing_ids_and_stores_version_2(self):
        self.assertEqual(self.todo("add", "buy milk"), "added #1: buy milk\n")
        self.assertEqual(self.todo("add", "file taxes", "--due", "2026-04-30", "--priority", "1", "--tag", "home"), "added #2: file taxes\n")
        data = self.stored()
        self.assertEqual((data["version"], data["next_id"]), (2, 3))
        self.assertEqual(data["todos"][1], {"id": 2, "title": "file taxes", "done": False, "due": "2026-04-30", "priority": 1, "tags": ["home"], "repeat": None, "created": "2026-03-10", "finished": None})

    def test_ids_are_not_reused_after_rm(self):
        self.todo("add", "a")
        self.todo("add", "b")
        self.assertEqual(self.todo("rm", "2"), "rm: #2\n")
        self.assertEqual(self.todo("add", "c"), "added #3: c\n")

    def test_bad_dates_are_refused(self):
        self.assertEqual(self.todo("add", "x", "--due", "30.04.2026", code=1), "bad date: 30.04.2026\n")
        self.assertFalse(os.path.exists(self.file))

    def test_repeat_needs_a_due_date(self):
        self.assertEqual(self.todo("add", "water plants", "--repeat", "weekly", code=1), "a repeating todo needs --due\n")

    def test_list_sorts_by_priority_then_due(self):
        self.todo("add", "later", "--priority", "3")
        self.todo("add", "urgent", "--priority", "1", "--due", "2026-03-01")
        self.todo("add", "soon", "--due", "2026-03-12", "--tag", "work")
        self.assertEqual(self.todo("list").splitlines(), [
            "[ ] #2   !!! urgent  due 2026-03-01  OVERDUE",
            "[ ] #3   !!  soon  due 2026-03-12  +work",
            "[ ] #1   !   later",
        ])

    def test_list_by_due_puts_undated_last(self):
        self.todo("add", "undated", "--priority", "1")
        self.todo("add", "dated", "--priority", "3", "--due", "2026-05-01")
        self.assertEqual([l.split()[3] for l in self.todo("list", "--sort", "due").splitlines()], ["!", "!!!"])

    def test_list_filters(self):
        self.todo("add", "a", "--tag", "work", "--due", "2026-03-09")
        self.todo("add", "b", "--tag", "home")
        self.todo("add", "c", "--tag", "work")
        self.todo("done", "3")
        self.assertEqual(len(self.todo("list", "--tag", "work").splitlines()), 1)
        self.assertEqual(len(self.todo("list", "--tag", "work", "--all").splitlines()), 2)
        self.assertIn("#1", self.todo("list", "--overdue"))
        self.assertEqual(self.todo("list", "--tag", "garden"), "nothing to do\n")

    def test_done_and_undo(self):
        self.todo("add", "a")
        self.assertEqual(self.todo("done", "1"), "done: #1\n")
        self.assertEqual(self.stored()["todos"][0]["finished"], "2026-03-10")
        self.assertEqual(self.todo("done", "1", code=1), "#1 is already done\n")
        self.assertEqual(self.todo("undo", "1"), "undone: #1\n")
        self.assertEqual(self.todo("undo", "1", code=1), "#1 is not done\n")

    def test_unknown_ids_are_an_error(self):
        for cmd in ("done", "undo", "rm"):
            self.assertEqual(self.todo(cmd, "7", code=1), "no todo #7\n")
        self.assertEqual(self.todo("tag", "7", "x", code=1), "no todo #7\n")

    def test_finishing_a_repeating_todo_creates_the_next_one(self):
        self.todo("add", "rent", "--due", "2026-01-31", "--repeat", "monthly", "--tag", "home")
        self.assertEqual(self.todo("done", "1"), "done: #1 (next: #2 due 2026-02-28)\n")
        self.assertEqual(self.todo("done", "2"), "done: #2 (next: #3 due 2026-03-28)\n")
        nxt = self.stored()["todos"][2]
        self.assertEqual((nxt["done"], nxt["tags"], nxt["repeat"], nxt["finished"]), (False, ["home"], "monthly", None))

    def test_weekly_and_daily_repeats(self):
        self.todo("add", "standup", "--due", "2026-12-31", "--repeat", "daily")
        self.todo("add", "review", "--due", "2026-12-28", "--repeat", "weekly")
        self.assertIn("due 2027-01-01", self.todo("done", "1"))
        self.assertIn("due 2027-01-04", self.todo("done", "2"))

    def test_tag_adds_and_removes(self):
        self.todo("add", "a", "--tag", "work")
        self.assertEqual(self.todo("tag", "1", "urgent", "--remove", "work"), "#1: +urgent\n")
        self.assertEqual(self.todo("tag", "1", "--remove", "urgent"), "#1: no tags\n")

    def test_search_needs_every_word(self):
        self.todo("add", "Call the dentist")
        self.todo("add", "call mum")
        self.assertEqual(len(self.todo("search", "call").splitlines()), 2)
        self.assertIn("dentist", self.todo("search", "CALL", "dent"))
        self.assertEqual(self.todo("search", "plumber", code=1), "no match\n")

    def test_stats(self):
        self.todo("add", "a", "--tag", "work", "--due", "2026-03-01")
        self.todo("add", "b", "--tag", "work")
        self.todo("add", "c")
        self.todo("add", "d", "--tag", "home")
        self.todo("done", "4")
        self.assertEqual(self.todo("stats").splitlines(), [
            "open: 3  done: 1  overdue: 1",
            "finished in the last 7 days: 1",
            "  work           2",
            "  (untagged)     1",
        ])

    def test_export_csv_and_import_round_trip(self):
        self.todo("add", "a, with comma", "--tag", "x", "--tag", "y", "--due", "2026-03-20")
        self.todo("add", "b")
        self.todo("done", "2")
        exported = self.todo("export")
        self.assertEqual(exported.splitlines()[1], '1,"a, with comma",0,2026-03-20,2,x y,,2026-03-10,')
        path = os.path.join(self.dir.name, "out.csv")
        with open(path, "w") as f:
            f.write(exported)
        self.assertEqual(self.todo("import", path), "imported 2 todos\n")
        titles = [(t["id"], t["title"], t["done"]) for t in self.stored()["todos"]]
        self.assertEqual(titles[2:], [(3, "a, with comma", False), (4, "b", True)])

    def test_import_refuses_a_bad_row_and_imports_nothing(self):
        path = os.path.join(self.dir.name, "in.csv")
        with open(path, "w") as f:
            f.write("id,title,done,due,priority,tags,repeat,created,finished\n1,ok,0,,2,,,,\n2,bad,0,31/12/2026,2,,,,\n")
        self.assertEqual(self.todo("import", path, code=1), f"{path}:3: not a todo row; nothing imported\n")
        self.assertFalse(os.path.exists(self.file))

    def test_export_markdown_escapes_pipes(self):
        self.todo("add", "a | b")
        self.assertEqual(self.todo("export", "--format", "markdown").splitlines()[2], "| 1 |   | a \\| b |  | 2 |  |")

    def test_purge_older_than(self):
        self.todo("add", "old")
        self.todo("add", "new")
        self.env["TODO_TODAY"] = "2026-03-01"
        self.todo("done", "1")
        self.env["TODO_TODAY"] = "2026-03-10"
        self.todo("done", "2")
        self.assertEqual(self.todo("purge", "--older-than", "5"), "purged 1 todos\n")
        self.assertEqual([t["title"] for t in self.stored()["todos"]], ["new"])

    def test_version_1_files_are_upgraded(self):
        with open(self.file, "w") as f:
            json.dump([{"id": 4, "title": "old style", "due": None, "priority": 2, "done": False}], f)
        self.assertIn("#4   !!  old style", self.todo("list"))
        self.assertEqual(self.todo("add", "new"), "added #5: new\n")
        self.assertEqual(self.stored()["todos"][0]["tags"], [])

    def test_unknown_file_version_is_refused(self):
        with open(self.file, "w") as f:
            json.dump({"version": 3, "next_id": 1, "todos": []}, f)
        run = subprocess.run([sys.executable, os.path.join(HERE, "todo.py"), "list"], env=self.env, capture_output=True, text=True)
        self.assertEqual((run.returncode, run.stderr), (2, f"unsupported file version 3 in {self.file}\n"))

    def test_no_command_prints_help(self):
        self.assertIn("A small todo manager", self.todo())


if __name__ == "__main__":
    unittest.main()
