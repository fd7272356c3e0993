"""Log lines: text for a terminal, or one JSON object per line for a log shipper.

`SWITCHBOARD_LOG_FORMAT=json` gives `{"ts", "level", "logger", "msg", "pid", "host"}` plus the
correlation fields a call passes in `extra` (`message_id`, `account`, `carrier`, `status`,
`event`, …: see `CORRELATION_FIELDS`), and `exc` with the traceback. Every line, either format,
goes through :class:`Redactor` first: the secret key, and the password of every URL and
carrier of the settings, become `***` wherever they appear (a DSN in an exception text, say).
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

CORRELATION_FIELDS = (
    "message_id",
    "account",
    "carrier",
    "status",
    "previous",
    "event",
    "message_class",
    "error_code",
    "task",
)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.\-]*://[^:/@\s]*:)(?P<pw>[^@\s]+)(?=@)", re.I)
MASK = "***"


class Redactor(logging.Filter):
    """Masks known secrets and any URL password in a record's final text (never drops it)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        # Longest first, so a secret containing another is masked whole; very short values
        # (a test carrier's "pw") would mask ordinary words and are left to the URL rule.
        self.secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        """`text` without secrets."""
        text = _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        """Render the message now, masked, so no formatter sees the raw arguments."""
        record.msg = self.redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, correlation fields included when given."""

    def __init__(self) -> None:
        super().__init__()
        self.host = socket.gethostname()

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "host": self.host,
            "pid": record.process or os.getpid(),
        }
        for name in CORRELATION_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                line[name] = value
        if record.exc_text:
            line["exc"] = record.exc_text
        elif record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def configure_logging(
    log_format: str = "text", level: str = "INFO", secrets: Iterable[str] = ()
) -> logging.Handler:
    """Send the root logger to stderr in `log_format`, secrets masked; returns the handler."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    handler.addFilter(Redactor(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler


__all__ = ["CORRELATION_FIELDS", "JsonFormatter", "Redactor", "configure_logging"]
