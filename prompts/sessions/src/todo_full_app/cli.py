"""Command-line parsing and dispatch; all behaviour lives in `commands`."""

import argparse
import os
import sys
from datetime import date

from todo_app import commands
from todo_app.models import REPEATS, parse_date
from todo_app.storage import StorageError


def today() -> date:
    """$TODO_TODAY (YYYY-MM-DD) overrides today's date, for tests and for planning ahead."""
    override = os.environ.get("TODO_TODAY")
    return parse_date(override) if override else date.today()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="todo", description="A small todo manager")
    sub = p.add_subparsers(dest="cmd")
    add_p = sub.add_parser("add", help="add a todo")
    add_p.add_argument("title")
    add_p.add_argument("--due", help="YYYY-MM-DD")
    add_p.add_argument("--priority", type=int, choices=(1, 2, 3), default=2)
    add_p.add_argument("--tag", action="append", default=[], help="may be repeated")
    add_p.add_argument("--repeat", choices=REPEATS)
    list_p = sub.add_parser("list", help="list open todos")
    list_p.add_argument("--all", action="store_true", help="include finished todos")
    list_p.add_argument("--tag")
    list_p.add_argument("--overdue", action="store_true")
    list_p.add_argument("--sort", choices=("priority", "due", "created"), default="priority")
    for name in ("done", "undo", "rm"):
        sub.add_parser(name).add_argument("id", type=int)
    tag_p = sub.add_parser("tag", help="add or remove tags")
    tag_p.add_argument("id", type=int)
    tag_p.add_argument("tags", nargs="*")
    tag_p.add_argument("--remove", action="append", default=[], metavar="TAG")
    search_p = sub.add_parser("search", help="find todos whose title contains all words")
    search_p.add_argument("words", nargs="+")
    sub.add_parser("stats")
    export_p = sub.add_parser("export")
    export_p.add_argument("--format", choices=("csv", "markdown"), default="csv")
    import_p = sub.add_parser("import", help="add the todos of a CSV file made by export")
    import_p.add_argument("file")
    purge_p = sub.add_parser("purge", help="delete finished todos")
    purge_p.add_argument("--older-than", type=int, default=0, metavar="DAYS")
    return p


def run(args: argparse.Namespace, now: date) -> commands.Result:
    if args.cmd == "add":
        return commands.add(args.title, args.due, args.priority, args.tag, args.repeat, now)
    if args.cmd == "list":
        return commands.list_todos(now, args.all, args.tag, args.overdue, args.sort)
    if args.cmd == "done":
        return commands.done(args.id, now)
    if args.cmd == "undo":
        return commands.undo(args.id)
    if args.cmd == "rm":
        return commands.remove(args.id)
    if args.cmd == "tag":
        return commands.tag(args.id, args.tags, args.remove)
    if args.cmd == "search":
        return commands.search(args.words, now)
    if args.cmd == "stats":
        return commands.stats(now)
    if args.cmd == "export":
        return commands.export(args.format)
    if args.cmd == "import":
        return commands.import_csv(args.file, now)
    return commands.purge(args.older_than, now)


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if args.cmd is None:
        p.print_help()
        return 0
    try:
        code, out = run(args, today())
    except StorageError as e:
        print(e, file=sys.stderr)
        return 2
    print(out)
    return code
