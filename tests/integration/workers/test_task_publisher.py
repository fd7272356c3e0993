"""`RedisTaskPublisher` against a real Redis and a real Celery worker: the message it LPUSHes
is the one `Celery.send_task` writes, and a worker runs it."""

from __future__ import annotations

import base64
import json
import logging
import queue
from typing import Any

import redis
from celery import Celery
from celery.contrib.testing.worker import start_worker

from workers import SEND_TASK
from workers.task_publisher import RedisTaskPublisher

IDS = ["01a2" + f"{n:028x}" for n in range(200)]


def _app(redis_url: str) -> Celery:
    app = Celery("switchboard", broker=redis_url, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
    )
    return app


def _stored(redis_url: str, key: str) -> dict[str, Any]:
    client = redis.Redis.from_url(redis_url)
    (raw,) = client.lrange(key, 0, -1)
    client.close()
    message: dict[str, Any] = json.loads(raw)
    return message


def _body(message: dict[str, Any]) -> Any:
    return json.loads(base64.b64decode(message["body"]))


def test_the_message_has_the_shape_kombu_gives_a_send_task(redis_url: str) -> None:
    _app(redis_url).send_task(SEND_TASK, args=[IDS, "marketing"], queue="by-kombu")
    RedisTaskPublisher(redis_url).send_task(SEND_TASK, [IDS, "marketing"], "by-lpush")

    kombu, ours = _stored(redis_url, "by-kombu"), _stored(redis_url, "by-lpush")

    assert ours.keys() == kombu.keys()
    assert ours["headers"].keys() == kombu["headers"].keys()
    assert ours["properties"].keys() == kombu["properties"].keys()
    assert _body(ours) == _body(kombu) == [[IDS, "marketing"], {}, _body(kombu)[2]]
    for same in ("content-encoding", "content-type"):
        assert ours[same] == kombu[same]
    for header in ("lang", "task", "retries", "timelimit", "eta", "expires", "parent_id"):
        assert ours["headers"][header] == kombu["headers"][header], header
    headers, properties = ours["headers"], ours["properties"]
    assert headers["root_id"] == headers["id"] == properties["correlation_id"]
    kept = ("delivery_mode", "priority", "body_encoding")
    assert {k: ours["properties"][k] for k in kept} == {k: kombu["properties"][k] for k in kept}
    assert ours["properties"]["delivery_info"]["routing_key"] == "by-lpush"
    assert ours["headers"]["argsrepr"] == "[<200 items>, 'marketing']"  # short, not 200 ids


def test_a_task_published_with_one_lpush_runs_on_a_real_celery_worker(redis_url: str) -> None:
    app = _app(redis_url)
    ran: queue.Queue[tuple[list[str], str | None]] = queue.Queue()

    @app.task(name=SEND_TASK)  # type: ignore[untyped-decorator]
    def send(ids: list[str], message_class: str | None = None) -> dict[str, int]:
        ran.put((ids, message_class))
        return {}

    publisher = RedisTaskPublisher(redis_url)
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, queues=["otp"]):
            publisher.send_task(SEND_TASK, [IDS[:3], "otp"], "otp")
            publisher.send_task(SEND_TASK, [[], "otp"], "otp")  # a wake-up: no ids
            assert ran.get(timeout=10) == (IDS[:3], "otp")
            assert ran.get(timeout=10) == ([], "otp")
    finally:  # the in-process worker set the root logger's level and handler: later tests'
        root.setLevel(level)  # warnings must still reach their log capture
        root.handlers[:] = handlers
