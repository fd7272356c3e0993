"""Publishes Celery tasks with one LPUSH: the message kombu would write, built without kombu.

`Celery.send_task` costs ~350 µs of CPU per call on this machine whatever it carries (kombu's
producer, exchange lookup, `saferepr` of the arguments, the retry wrapper); the API publishes
after its commits, and that was 15% of its CPU (py-spy, `bench/e2e.py --callbacks`). A send
task's message is small and fixed in shape, so `RedisTaskPublisher` writes the same message
Celery's protocol 2 over kombu's Redis transport does — the JSON envelope with the
base64-encoded body `[args, kwargs, embed]`, the task headers, the delivery properties — and
LPUSHes it onto the queue's list, which is where kombu's Redis transport puts a message routed
to that queue at priority 0. The workers consume it with Celery as before
(`tests/integration/workers/test_task_publisher.py` holds the two messages side by side and runs
one through a real worker).

Durability is the caller's as before: a failed LPUSH raises `redis.RedisError`, and the rows
stay `queued` for the sweeper.
"""

from __future__ import annotations

import base64
import os
import socket
import uuid
from collections.abc import Sequence
from typing import Any

import orjson

from workers.process_redis import ProcessRedis

_EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


def _argsrepr(args: Sequence[Any]) -> str:
    """What the worker's log shows of the arguments: short, whatever their size."""
    shown = [f"<{len(a)} items>" if isinstance(a, list | tuple) else repr(a) for a in args]
    return f"[{', '.join(shown)}]"


class RedisTaskPublisher:
    """`Publisher` (`workers.tasks`) for a Redis broker: a task is one LPUSH."""

    def __init__(self, redis_url: str) -> None:
        self._redis = ProcessRedis(redis_url)
        self._origin = f"{os.getpid()}@{socket.gethostname()}"
        self._reply_to = str(uuid.uuid4())  # as a Celery app's oid: never read (no results)

    def message(self, name: str, args: Sequence[Any], queue: str) -> bytes:
        """The envelope kombu's Redis transport stores for `send_task(name, args, queue=…)`."""
        task_id = str(uuid.uuid4())
        body = orjson.dumps([list(args), {}, _EMBED])
        return orjson.dumps(
            {
                "body": base64.b64encode(body).decode("ascii"),
                "content-encoding": "utf-8",
                "content-type": "application/json",
                "headers": {
                    "lang": "py",
                    "task": name,
                    "id": task_id,
                    "shadow": None,
                    "eta": None,
                    "expires": None,
                    "group": None,
                    "group_index": None,
                    "retries": 0,
                    "timelimit": [None, None],
                    "root_id": task_id,
                    "parent_id": None,
                    "argsrepr": _argsrepr(args),
                    "kwargsrepr": "{}",
                    "origin": self._origin,
                    "ignore_result": None,
                    "replaced_task_nesting": 0,
                    "stamped_headers": None,
                    "stamps": {},
                },
                "properties": {
                    "correlation_id": task_id,
                    "reply_to": self._reply_to,
                    "delivery_mode": 2,
                    "delivery_info": {"exchange": "", "routing_key": queue},
                    "priority": 0,
                    "body_encoding": "base64",
                    "delivery_tag": str(uuid.uuid4()),
                },
            }
        )

    def send_task(self, name: str, args: Sequence[Any], queue: str) -> object:
        """LPUSH task `name` with `args` onto `queue`'s list (raises `redis.RedisError`)."""
        return self._redis.get().lpush(queue, self.message(name, args, queue))
