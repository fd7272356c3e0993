"""A status-callback receiver for benches: its own process, on 127.0.0.1, recording every event.

`POST /cb` takes one event (`{"id", "status", ...}`) or a batch (`{"events": [...]}`) and answers
204; each event is kept as (id, status, wall-clock seconds it arrived). `GET /stats` gives the
counts (events, messages with a final event); `GET /events` gives them all. Run by bench/e2e.py:

    .venv/bin/python bench/receiver.py --port 18080
"""

from __future__ import annotations

import argparse
import time

import orjson
from aiohttp import web

FINAL = frozenset({"delivered", "undelivered", "expired", "failed", "rejected", "canceled"})

EVENTS = web.AppKey("events", list)
FINALS = web.AppKey("finals", set)


async def callback(request: web.Request) -> web.Response:
    """Record the event(s) of one POST."""
    arrived = time.time()
    body = orjson.loads(await request.read())
    events = body["events"] if isinstance(body, dict) and "events" in body else [body]
    for event in events:
        request.app[EVENTS].append((event["id"], event["status"], arrived))
        if event["status"] in FINAL:
            request.app[FINALS].add(event["id"])
    return web.Response(status=204)


async def stats(request: web.Request) -> web.Response:
    """How many events, and how many messages have a final one."""
    return web.json_response(
        {"events": len(request.app[EVENTS]), "final_messages": len(request.app[FINALS])}
    )


async def events(request: web.Request) -> web.Response:
    """Every event as [id, status, arrived]."""
    return web.Response(body=orjson.dumps(request.app[EVENTS]), content_type="application/json")


def main() -> None:
    """Serve until killed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app[EVENTS] = []
    app[FINALS] = set()
    app.router.add_post("/cb", callback)
    app.router.add_get("/stats", stats)
    app.router.add_get("/events", events)
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a dependency
        pass
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
