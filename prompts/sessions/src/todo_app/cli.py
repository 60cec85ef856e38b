"""Command-line parsing and dispatch; all behaviour lives in `commands`."""

import argparse
from datetime import date

from todo_app import commands


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Simple todo manager")
    sub = p.add_subparsers(dest="cmd")
    add_p = sub.add_parser("add")
    add_p.add_argument("title")
    add_p.add_argument("--due", help="YYYY-MM-DD")
    add_p.add_argument("--priority", type=int, default=2)
    sub.add_parser("list")
    for name in ("done", "rm"):
        sub.add_parser(name).add_argument("id", type=int)
    return p


def main(argv=None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if args.cmd == "add":
        code, out = commands.add(args.title, args.due, args.priority)
    elif args.cmd == "list":
        code, out = commands.list_todos(date.today())
    elif args.cmd in ("done", "rm"):
        code, out = commands.finish(args.id, remove=args.cmd == "rm")
    else:
        p.print_help()
        return 0
    if out:
        print(out)
    return code
