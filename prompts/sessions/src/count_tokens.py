#!/usr/bin/env python3
"""Counts each shipped session's prompt tokens per turn, as a run does: every turn's context is
rendered by a llama-server's chat template (/apply-template, tools included) and tokenized by its
/tokenize, without the run's session tag. Gives the figures of docs/sessions.md's session table.

Usage: python3 prompts/sessions/src/count_tokens.py http://127.0.0.1:PORT [session.json ...]
(start the reference llama-server from ~/.cache/quantbench/reference/ first; default: every
prompts/sessions/*.json).
"""

import glob
import json
import os
import sys
import urllib.request


def post(base, path, body):
    request = urllib.request.Request(base + path, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return json.load(response)


def contexts(session):
    """The messages of each turn, built as SessionFile::context builds them (replay mode)."""
    messages = [{"role": "system", "content": session["system"]}]
    for turn in session["turns"]:
        messages.extend(turn["append"])
        yield list(messages)
        reply = {"role": "assistant", "content": turn["reply"].get("content", "")}
        if turn["reply"].get("tool_calls"):
            reply["tool_calls"] = turn["reply"]["tool_calls"]
        messages.append(reply)


def count(base, session):
    counts = []
    for messages in contexts(session):
        body = {"messages": messages}
        if session.get("tools"):
            body["tools"] = session["tools"]
        prompt = post(base, "/apply-template", body)["prompt"]
        counts.append(len(post(base, "/tokenize", {"content": prompt, "add_special": True, "parse_special": True})["tokens"]))
    return counts


def main():
    base = sys.argv[1].rstrip("/")
    paths = sys.argv[2:] or sorted(glob.glob(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "*.json")))
    for path in paths:
        with open(path) as f:
            session = json.load(f)
        counts = count(base, session)
        print(f"{session['id']}: {len(counts)} turns, prompt tokens {' '.join(map(str, counts))}; last turn + max_tokens {counts[-1] + session['turns'][-1]['max_tokens']}")


if __name__ == "__main__":
    main()
