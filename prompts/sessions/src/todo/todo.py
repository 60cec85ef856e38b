import argparse
import json
import os
import sys
from datetime import datetime

DB_FILE = os.path.expanduser("~/.todo.json")


def main():
    parser = argparse.ArgumentParser(description="Simple todo manager")
    sub = parser.add_subparsers(dest="cmd")
    add_p = sub.add_parser("add")
    add_p.add_argument("title")
    add_p.add_argument("--due", help="YYYY-MM-DD")
    add_p.add_argument("--priority", type=int, default=2)
    sub.add_parser("list")
    done_p = sub.add_parser("done")
    done_p.add_argument("id", type=int)
    rm_p = sub.add_parser("rm")
    rm_p.add_argument("id", type=int)
    args = parser.parse_args()

    todos = []
    if os.path.exists(DB_FILE):
        with open(DB_FILE) as f:
            todos = json.load(f)

    if args.cmd == "add":
        if args.due:
            try:
                datetime.strptime(args.due, "%Y-%m-%d")
            except ValueError:
                print("bad date: " + args.due)
                sys.exit(1)
        new_id = max([t["id"] for t in todos], default=0) + 1
        todos.append({"id": new_id, "title": args.title, "due": args.due,
                      "priority": args.priority, "done": False})
        with open(DB_FILE, "w") as f:
            json.dump(todos, f, indent=2)
        print(f"added #{new_id}: {args.title}")
    elif args.cmd == "list":
        today = datetime.now().strftime("%Y-%m-%d")
        todos.sort(key=lambda t: (t["done"], t["priority"], t["due"] or "9999"))
        for t in todos:
            mark = "x" if t["done"] else " "
            late = " (OVERDUE)" if t["due"] and t["due"] < today and not t["done"] else ""
            print(f"[{mark}] #{t['id']} P{t['priority']} {t['title']} {t['due'] or ''}{late}")
    elif args.cmd in ("done", "rm"):
        if not any(t["id"] == args.id for t in todos):
            print(f"no todo #{args.id}")
            sys.exit(1)
        if args.cmd == "done":
            for t in todos:
                if t["id"] == args.id:
                    t["done"] = True
        else:
            todos = [t for t in todos if t["id"] != args.id]
        with open(DB_FILE, "w") as f:
            json.dump(todos, f, indent=2)
        print(f"{args.cmd}: #{args.id}")
    else:
        parser.print_help()


if __name__ == "__main__":
    main()
