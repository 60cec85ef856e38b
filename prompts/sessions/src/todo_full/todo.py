"""todo: a small command-line todo manager.

Todos live in one JSON file (~/.todo.json, or $TODO_FILE). Each has a title, an optional due
date, a priority (1 = high, 3 = low), tags, and optionally a repeat rule: finishing a repeating
todo creates its next occurrence. $TODO_TODAY (YYYY-MM-DD) overrides today's date, for tests
and for planning ahead.
"""

import argparse
import calendar
import csv
import io
import json
import os
import sys
import tempfile
from datetime import date, datetime, timedelta

FILE_VERSION = 2
DATE_FORMAT = "%Y-%m-%d"
PRIORITY_MARKS = {1: "!!!", 2: "!!", 3: "!"}
REPEATS = ("daily", "weekly", "monthly")
CSV_FIELDS = ["id", "title", "done", "due", "priority", "tags", "repeat", "created", "finished"]


def today():
    override = os.environ.get("TODO_TODAY")
    return datetime.strptime(override, DATE_FORMAT).date() if override else date.today()


def db_path():
    return os.environ.get("TODO_FILE") or os.path.expanduser("~/.todo.json")


def load():
    """Returns (todos, next_id). Version 1 files (a bare list, before tags) are upgraded."""
    path = db_path()
    if not os.path.exists(path):
        return [], 1
    with open(path) as f:
        data = json.load(f)
    if isinstance(data, list):
        todos = data
        for t in todos:
            t.setdefault("tags", [])
            t.setdefault("repeat", None)
            t.setdefault("created", None)
            t.setdefault("finished", None)
        next_id = max((t["id"] for t in todos), default=0) + 1
        return todos, next_id
    if data.get("version") != FILE_VERSION:
        print(f"unsupported file version {data.get('version')} in {path}", file=sys.stderr)
        sys.exit(2)
    return data["todos"], data["next_id"]


def save(todos, next_id):
    """Writes the whole file atomically: a crash leaves the old file, never half a new one."""
    path = db_path()
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".todo-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump({"version": FILE_VERSION, "next_id": next_id, "todos": todos}, f, indent=2)
    os.replace(tmp, path)


def check_date(text):
    if text is None:
        return None
    try:
        datetime.strptime(text, DATE_FORMAT)
    except ValueError:
        print(f"bad date: {text}")
        sys.exit(1)
    return text


def next_due(due, repeat):
    d = datetime.strptime(due, DATE_FORMAT).date()
    if repeat == "daily":
        d += timedelta(days=1)
    elif repeat == "weekly":
        d += timedelta(weeks=1)
    else:
        # Same day next month, or the month's last day (31 January -> 28/29 February).
        year, month = (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)
        d = date(year, month, min(d.day, calendar.monthrange(year, month)[1]))
    return d.strftime(DATE_FORMAT)


def find(todos, todo_id):
    for t in todos:
        if t["id"] == todo_id:
            return t
    print(f"no todo #{todo_id}")
    sys.exit(1)


def is_overdue(t, now):
    return not t["done"] and t["due"] is not None and t["due"] < now.strftime(DATE_FORMAT)


def line(t, now):
    mark = "x" if t["done"] else " "
    parts = [f"[{mark}] #{t['id']:<3} {PRIORITY_MARKS[t['priority']]:<3} {t['title']}"]
    if t["due"]:
        parts.append(f"due {t['due']}")
    if t["repeat"]:
        parts.append(f"({t['repeat']})")
    parts.extend(f"+{tag}" for tag in t["tags"])
    if is_overdue(t, now):
        parts.append("OVERDUE")
    return "  ".join(parts)


def sort_key(by):
    if by == "due":
        return lambda t: (t["done"], t["due"] or "9999-99-99", t["priority"], t["id"])
    if by == "created":
        return lambda t: (t["done"], t["created"] or "", t["id"])
    return lambda t: (t["done"], t["priority"], t["due"] or "9999-99-99", t["id"])


def main():
    parser = argparse.ArgumentParser(prog="todo", description="A small todo manager")
    sub = parser.add_subparsers(dest="cmd")
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
    args = parser.parse_args()

    if args.cmd is None:
        parser.print_help()
        return
    now = today()
    todos, next_id = load()

    if args.cmd == "add":
        due = check_date(args.due)
        if args.repeat and not due:
            print("a repeating todo needs --due")
            sys.exit(1)
        todos.append({
            "id": next_id, "title": args.title, "done": False, "due": due, "priority": args.priority,
            "tags": sorted(set(args.tag)), "repeat": args.repeat, "created": now.strftime(DATE_FORMAT), "finished": None,
        })
        save(todos, next_id + 1)
        print(f"added #{next_id}: {args.title}")
    elif args.cmd == "list":
        shown = [t for t in todos if args.all or not t["done"]]
        if args.tag:
            shown = [t for t in shown if args.tag in t["tags"]]
        if args.overdue:
            shown = [t for t in shown if is_overdue(t, now)]
        for t in sorted(shown, key=sort_key(args.sort)):
            print(line(t, now))
        if not shown:
            print("nothing to do")
    elif args.cmd == "done":
        t = find(todos, args.id)
        if t["done"]:
            print(f"#{t['id']} is already done")
            sys.exit(1)
        t["done"] = True
        t["finished"] = now.strftime(DATE_FORMAT)
        message = f"done: #{t['id']}"
        if t["repeat"]:
            todos.append(dict(t, id=next_id, done=False, finished=None, due=next_due(t["due"], t["repeat"]), created=now.strftime(DATE_FORMAT)))
            message += f" (next: #{next_id} due {todos[-1]['due']})"
            next_id += 1
        save(todos, next_id)
        print(message)
    elif args.cmd == "undo":
        t = find(todos, args.id)
        if not t["done"]:
            print(f"#{t['id']} is not done")
            sys.exit(1)
        t["done"] = False
        t["finished"] = None
        save(todos, next_id)
        print(f"undone: #{t['id']}")
    elif args.cmd == "rm":
        t = find(todos, args.id)
        todos.remove(t)
        save(todos, next_id)
        print(f"rm: #{t['id']}")
    elif args.cmd == "tag":
        t = find(todos, args.id)
        t["tags"] = sorted(set(t["tags"]).union(args.tags).difference(args.remove))
        save(todos, next_id)
        print(f"#{t['id']}: " + (" ".join(f"+{tag}" for tag in t["tags"]) or "no tags"))
    elif args.cmd == "search":
        words = [w.lower() for w in args.words]
        found = [t for t in todos if all(w in t["title"].lower() for w in words)]
        for t in sorted(found, key=sort_key("priority")):
            print(line(t, now))
        if not found:
            print("no match")
            sys.exit(1)
    elif args.cmd == "stats":
        open_todos = [t for t in todos if not t["done"]]
        print(f"open: {len(open_todos)}  done: {len(todos) - len(open_todos)}  overdue: {sum(is_overdue(t, now) for t in todos)}")
        week_ago = (now - timedelta(days=7)).strftime(DATE_FORMAT)
        print(f"finished in the last 7 days: {sum(1 for t in todos if t['finished'] and t['finished'] > week_ago)}")
        by_tag = {}
        for t in open_todos:
            for tag in t["tags"] or ["(untagged)"]:
                by_tag[tag] = by_tag.get(tag, 0) + 1
        for tag, count in sorted(by_tag.items(), key=lambda kv: (-kv[1], kv[0])):
            print(f"  {tag:<12} {count:>3}")
    elif args.cmd == "export":
        if args.format == "markdown":
            print("| # | done | title | due | priority | tags |")
            print("|---|---|---|---|---|---|")
            for t in sorted(todos, key=lambda t: t["id"]):
                title = t["title"].replace("|", "\\|")
                print(f"| {t['id']} | {'x' if t['done'] else ' '} | {title} | {t['due'] or ''} | {t['priority']} | {' '.join(t['tags'])} |")
        else:
            out = io.StringIO()
            writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
            writer.writeheader()
            for t in sorted(todos, key=lambda t: t["id"]):
                writer.writerow(dict(t, tags=" ".join(t["tags"]), done=int(t["done"])))
            print(out.getvalue(), end="")
    elif args.cmd == "import":
        with open(args.file, newline="") as f:
            rows = list(csv.DictReader(f))
        added = 0
        for n, row in enumerate(rows, start=2):
            try:
                priority = int(row["priority"] or 2)
                if priority not in PRIORITY_MARKS or not row["title"]:
                    raise ValueError
                if row["due"]:
                    datetime.strptime(row["due"], DATE_FORMAT)
            except (KeyError, ValueError):
                print(f"{args.file}:{n}: not a todo row; nothing imported")
                sys.exit(1)
            todos.append({
                "id": next_id + added, "title": row["title"], "done": row["done"] == "1", "due": row["due"] or None,
                "priority": priority, "tags": sorted(set(row["tags"].split())), "repeat": row["repeat"] or None,
                "created": row["created"] or now.strftime(DATE_FORMAT), "finished": row["finished"] or None,
            })
            added += 1
        save(todos, next_id + added)
        print(f"imported {added} todos")
    elif args.cmd == "purge":
        cutoff = (now - timedelta(days=args.older_than)).strftime(DATE_FORMAT)
        kept = [t for t in todos if not (t["done"] and (t["finished"] or "") <= cutoff)]
        save(kept, next_id)
        print(f"purged {len(todos) - len(kept)} todos")


if __name__ == "__main__":
    main()
