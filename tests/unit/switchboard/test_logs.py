"""Log lines: JSON with correlation fields, state-change lines, and never a secret."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from store import StatusChange
from switchboard.logs import JsonFormatter, Redactor, configure_logging
from workers import STATE_LOGGER, log_status_changes

SECRET = "s3cret-hmac-key-value"  # noqa: S105 - a test value to mask


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The root logger in JSON into a buffer, the secret key and a carrier password masked."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    handler = configure_logging("json", "INFO", [SECRET, "alphapw"])
    buffer = io.StringIO()
    assert isinstance(handler, logging.StreamHandler)  # to stderr, so a stream to swap
    handler.setStream(buffer)
    yield buffer
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def _lines(buffer: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_a_json_line_carries_the_correlation_fields(captured: io.StringIO) -> None:
    logging.getLogger("workers.sending").warning(
        "throttled by %s", "alpha", extra={"message_id": "m1", "carrier": "alpha", "account": "a"}
    )
    (line,) = _lines(captured)
    assert line["msg"] == "throttled by alpha" and line["level"] == "WARNING"
    assert (line["message_id"], line["carrier"], line["account"]) == ("m1", "alpha", "a")
    assert line["logger"] == "workers.sending" and isinstance(line["pid"], int)
    assert "status" not in line  # only fields given


def test_state_changes_are_one_info_line_each_with_their_fields(captured: io.StringIO) -> None:
    log_status_changes(
        [
            StatusChange("m1", "sent", None, "acc-1", carrier="alpha"),
            StatusChange("m2", "expired", None),
        ]
    )
    lines = _lines(captured)
    assert [(x["message_id"], x["status"], x.get("carrier"), x.get("account")) for x in lines] == [
        ("m1", "sent", "alpha", "acc-1"),
        ("m2", "expired", None, None),
    ]
    assert {x["logger"] for x in lines} == {STATE_LOGGER} and {x["event"] for x in lines} == {
        "status_change"
    }


def test_no_secret_reaches_a_line_in_args_urls_or_tracebacks(captured: io.StringIO) -> None:
    log = logging.getLogger("switchboard.test")
    log.error("connect to %s failed", "postgresql+psycopg://sb:dbpassw0rd@db:5432/sb")
    log.warning("key is %s, carrier pw alphapw", SECRET)
    try:
        raise RuntimeError(f"redis://:redispass@10.0.0.5:6379/0 refused ({SECRET})")
    except RuntimeError:
        log.exception("boom")
    text = captured.getvalue()
    for secret in ("dbpassw0rd", SECRET, "alphapw", "redispass"):
        assert secret not in text
    lines = _lines(captured)
    assert lines[0]["msg"] == "connect to postgresql+psycopg://sb:***@db:5432/sb failed"
    assert "redis://:***@10.0.0.5" in str(lines[2]["exc"])


def test_text_format_is_masked_too() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "key %s", (SECRET,), None)
    Redactor([SECRET]).filter(record)
    assert logging.Formatter("%(message)s").format(record) == "key ***"
    assert JsonFormatter().format(record).count("***") == 1


def test_short_values_are_not_masked_as_secrets() -> None:
    assert Redactor(["pw"]).redact("a pw word") == "a pw word"
