"""A plain Python asyncio streaming client, for comparison in benches/client_fidelity.

Closed loop: STREAMS tasks, each sending REQUESTS requests one after another. Each request opens
its connection, then starts its clock (time.monotonic_ns, which is CLOCK_MONOTONIC), sends the
request, reads the chunked SSE stream and stamps each token when it has parsed its event. Prints
one JSON line per request: {"id", "sent", "tokens": [ns, ...]} or {"id", "error"}.

Usage: python3 asyncio_client.py HOST PORT STREAMS REQUESTS MAX_TOKENS. Standard library only.
"""

import asyncio
import json
import sys
import time


async def generate(host, port, request_id, max_tokens):
    reader, writer = await asyncio.open_connection(host, port)
    try:
        body = json.dumps({
            "model": "scripted",
            "messages": [{"role": "user", "content": f"req-{request_id}"}],
            "max_tokens": max_tokens,
            "stream": True,
        }).encode()
        head = (
            f"POST /v1/chat/completions HTTP/1.1\r\nhost: {host}:{port}\r\n"
            f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
        ).encode()
        sent = time.monotonic_ns()
        writer.write(head + body)
        await writer.drain()
        status = await reader.readline()
        if b" 200 " not in status:
            raise RuntimeError(f"status {status!r}")
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        tokens, pending = [], b""
        while True:
            size = int((await reader.readline()).strip() or b"0", 16)
            if size == 0:
                break
            pending += (await reader.readexactly(size + 2))[:-2]
            while b"\n\n" in pending:
                event, pending = pending.split(b"\n\n", 1)
                if not event.startswith(b"data: ") or event == b"data: [DONE]":
                    continue
                choices = json.loads(event[6:]).get("choices") or [{}]
                if choices[0].get("delta", {}).get("content"):
                    tokens.append(time.monotonic_ns())
        return {"id": request_id, "sent": sent, "tokens": tokens}
    finally:
        writer.close()


async def stream(host, port, first, streams, requests, max_tokens):
    results = []
    for r in range(requests):
        request_id = first + r * streams
        try:
            results.append(await generate(host, port, request_id, max_tokens))
        except Exception as e:  # one failed request is a result, not the end of the run
            results.append({"id": request_id, "error": repr(e)})
    return results


async def main():
    host, port, streams, requests, max_tokens = sys.argv[1], *map(int, sys.argv[2:6])
    runs = await asyncio.gather(*(stream(host, port, s, streams, requests, max_tokens) for s in range(streams)))
    for results in runs:
        for result in results:
            print(json.dumps(result))


asyncio.run(main())
