"""Hostile and careless input against a real API process: one line per case, each checked.

Starts a stack (embedded Redis, a SQLite file or with `--postgres` a throwaway PostgreSQL,
the simulator, `switchboard api`; no workers, so nothing accepted is ever sent and no callback
is ever POSTed) with the SSRF guard at full strength (no allow-list), a limits file and a 1-s
header deadline, then tries every case issue 14 names: SSRF callback URLs, bodies that are not
UTF-8 or hold lone surrogates, another account's messages / pricing / keys / campaigns /
verifications, idempotency reuse (same key and body, other body, concurrent), rate limits,
backpressure, non-admin keys on admin routes, bodies over the limit, slow headers, the default
secret outside the demo, a revoked key. Each line: the request, the status, the problem code
and what it stored (every table of the database compared before and after), then `ok` or what
was expected. Any answer not the expected one makes the exit status 1. Every connection goes
to 127.0.0.1 (`_connect` refuses anything else).

    .venv/bin/python bench/hostile.py [--postgres]

The last line is one JSON object: cases, wrong, and the database used.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import inspect, text  # noqa: E402

from bench.carriers import ROUTES, SIMULATOR  # noqa: E402 - one simulated carrier
from switchboard.embedded import free_port, start_postgres, wait_for_port  # noqa: E402
from switchboard.settings import DEV_SECRET_KEY  # noqa: E402
from switchboard.stack import Stack, random_secrets_env  # noqa: E402
from switchboard.wiring import utcnow  # noqa: E402

HOST = "127.0.0.1"  # the only address this script ever connects to
TO = "+447400100001"  # (+447700900123, the drama number, is not valid to phonenumbers)
HEADER_TIMEOUT = 1.0  # seconds (SWITCHBOARD_API_HEADER_TIMEOUT of the stack)
LIMITS = """
[defaults]
requests_per_second = 0
messages_per_second = 0

[accounts.limited]
messages_per_second = 1

[accounts.chatty]
requests_per_second = 2
"""
SSRF_URLS = (
    ("metadata service", "http://169.254.169.254/latest/meta-data"),
    ("our own Redis", "http://127.0.0.1:6379/"),
    ("loopback, other", "http://127.0.0.2/"),
    ("localhost", "http://localhost:8080/"),
    ("RFC 1918 10/8", "http://10.0.0.1/"),
    ("RFC 1918 172.16/12", "https://172.16.0.1/"),
    ("RFC 1918 192.168/16", "http://192.168.1.1/"),
    ("link-local", "http://169.254.10.10/"),
    ("CGNAT 100.64/10", "http://100.64.0.1/"),
    ("multicast", "http://224.0.0.1/"),
    ("unspecified", "http://0.0.0.0/"),
    ("broadcast", "http://255.255.255.255/"),
    ("IPv6 loopback", "http://[::1]/"),
    ("IPv6 ULA", "http://[fd00::1]/"),
    ("IPv6 link-local", "http://[fe80::1]/"),
    ("IPv4-mapped loopback", "http://[::ffff:127.0.0.1]/"),
    ("IPv4-mapped metadata", "http://[::ffff:169.254.169.254]/"),
    ("NAT64 of RFC 1918", "http://[64:ff9b::10.0.0.1]/"),
    ("decimal IP", "http://2130706433/"),
    ("octal IP", "http://0177.0.0.1/"),
    ("hex IP", "http://0x7f.0.0.1/"),
    ("hex whole", "http://0xa9fea9fe/"),
    ("short form", "http://127.1/"),
    ("credentials in URL", "http://user:pw@8.8.8.8/"),
)
NOT_HTTP = (  # not a callback URL at all: 422 invalid_input (field callback_url)
    ("file scheme", "file:///etc/passwd"),
    ("gopher scheme", "gopher://127.0.0.1:6379/_INFO"),
    ("javascript scheme", "javascript:alert(1)"),
)


@dataclass(frozen=True)
class Answer:
    """An HTTP answer (status 0: the connection was closed without one)."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""

    @property
    def code(self) -> str:
        """The problem `code` ('-' when the body is no problem)."""
        if not self.headers.get("content-type", "").startswith("application/problem+json"):
            return "-"
        return str(json.loads(self.body).get("code", "?"))

    def json(self) -> Any:
        """The body, decoded."""
        return json.loads(self.body)


@dataclass(frozen=True)
class Expected:
    """What a case must answer: status, problem code, what it stores."""

    status: int | str
    code: str | None = "-"  # None: not compared (printed as it came)
    stored: str = "nothing"


@dataclass
class Row:
    """One case's line."""

    request: str
    status: int | str
    code: str
    stored: str
    expected: Expected

    @property
    def ok(self) -> bool:
        """The answer is the expected one."""
        want = self.expected
        code = self.code if want.code is None else want.code
        return (self.status, self.code, self.stored) == (want.status, code, want.stored)

    def line(self) -> str:
        """The printed line (a Markdown table row: docs/security.md holds the table)."""
        verdict = "ok" if self.ok else f"**WRONG**, expected {self.expected}"
        cells = (self.request.replace("|", "\\|"), self.status, self.code, self.stored, verdict)
        return "| " + " | ".join(str(c) for c in cells) + " |"


HEADER = "| request | status | code | stored | |\n|---|---|---|---|---|"


def _connect(port: int, timeout: float = 10.0) -> socket.socket:
    """A TCP connection to this host; nothing else is ever dialled."""
    return socket.create_connection((HOST, port), timeout=timeout)


class Api:
    """Requests to the API on 127.0.0.1 (raw bytes where a case needs them)."""

    def __init__(self, port: int) -> None:
        self.port = port

    def call(
        self,
        method: str,
        path: str,
        key: str | None,
        body: Any = None,
        raw: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        """One request: `body` as JSON, or `raw` bytes as they are."""
        connection = http.client.HTTPConnection(HOST, self.port, timeout=30)
        sent = {"Content-Type": "application/json", **(headers or {})}
        if key is not None:
            sent["Authorization"] = f"Bearer {key}"
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        try:
            connection.request(method, path, body=data, headers=sent)
            response = connection.getresponse()
            return Answer(
                response.status,
                {k.lower(): v for k, v in response.getheaders()},
                response.read(),
            )
        finally:
            connection.close()

    def raw(self, data: bytes, wait_for_close: float = 10.0) -> tuple[Answer, float]:
        """Send `data` on a new connection; the answer (status 0 if none) and seconds taken."""
        started = time.monotonic()
        with _connect(self.port, timeout=wait_for_close) as sock:
            sock.sendall(data)
            received = b""
            try:
                while chunk := sock.recv(65536):
                    received += chunk
                    if b"\r\n\r\n" in received:
                        break
            except TimeoutError:
                pass
        elapsed = time.monotonic() - started
        if not received:
            return Answer(0), elapsed
        head, _, body = received.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])
        }
        return Answer(int(lines[0].split()[1]), headers, body), elapsed


class Database:
    """Every table's rows, digested, to say what a request stored or changed."""

    def __init__(self, stack: Stack) -> None:
        self._engine = stack.store.engine
        self._tables = sorted(
            t for t in inspect(self._engine).get_table_names() if t != "alembic_version"
        )

    def snapshot(self) -> dict[str, tuple[int, str]]:
        """(row count, digest of the rows) per table."""
        out = {}
        with self._engine.connect() as conn:
            for table in self._tables:
                rows = sorted(repr(tuple(r)) for r in conn.execute(text(f"SELECT * FROM {table}")))  # noqa: S608 - table names from the schema
                out[table] = (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest())
        return out

    @staticmethod
    def change(before: Mapping[str, tuple[int, str]], after: Mapping[str, tuple[int, str]]) -> str:
        """'nothing', or each table that changed: `messages +1`, `api_keys changed`."""
        parts = []
        for table, (count, digest) in after.items():
            old_count, old_digest = before[table]
            if count != old_count:
                parts.append(f"{table} {count - old_count:+d}")
            elif digest != old_digest:
                parts.append(f"{table} changed")
        return ", ".join(parts) or "nothing"


class Run:
    """The cases, against one stack."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.api = Api(stack.api_port)
        self.db = Database(stack)
        self.rows: list[Row] = []
        now = utcnow()
        self.key = stack.api_key  # account "demo"
        self.admin = stack.store.create_api_key("ops", now, is_admin=True)
        self.other = stack.store.create_api_key("other", now)
        self.limited = stack.store.create_api_key("limited", now)
        self.chatty = stack.store.create_api_key("chatty", now)

    @contextmanager
    def case(self, request: str, expected: Expected) -> Iterator[dict[str, Any]]:
        """Record one case: the block puts `answer` (or `status`, `code`) in the dict."""
        before = self.db.snapshot()
        seen: dict[str, Any] = {}
        yield seen
        answer: Answer | None = seen.get("answer")
        status = seen.get("status", answer.status if answer is not None else "?")
        code = seen.get("code", answer.code if answer is not None else "-")
        stored = self.db.change(before, self.db.snapshot())
        row = Row(request, status, code, stored, expected)
        self.rows.append(row)
        print(row.line(), flush=True)

    def send(
        self,
        request: str,
        expected: Expected,
        method: str,
        path: str,
        key: str | None,
        body: Any = None,
        raw: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        check: Callable[[Answer], str] | None = None,
    ) -> Answer:
        """One request as one case; `check` may turn the answer's status into a note."""
        with self.case(request, expected) as seen:
            answer = self.api.call(method, path, key, body, raw, headers)
            seen["answer"] = answer
            if check is not None:
                seen["status"] = check(answer)
        return answer

    def walk(self, *steps: tuple[Any, ...]) -> None:
        """`send` each (request, expected, method, path[, key[, body]])."""
        for step in steps:
            self.send(*step)

    def demo_key(self) -> dict[str, Any]:
        """A new key of account demo, made by the admin key through the API (a case)."""
        made: dict[str, Any] = self.send(
            "POST /v1/keys admin makes a key for demo (setup)",
            Expected(201, stored="api_keys +1"),
            "POST",
            "/v1/keys",
            self.admin,
            {"account": "demo"},
        ).json()
        return made

    # --- the cases -----------------------------------------------------------------------

    def ssrf(self) -> None:
        """Callback URLs that point inside: 422 callback_url_forbidden, nothing stored."""
        cases = [(what, url, "callback_url_forbidden") for what, url in SSRF_URLS]
        cases += [(what, url, "invalid_input") for what, url in NOT_HTTP]
        for what, url, code in cases:
            body = {"to": TO, "body": "hi", "callback_url": url}
            self.send(
                f"POST /v1/messages callback_url={url} ({what})",
                Expected(422, code),
                "POST",
                "/v1/messages",
                self.key,
                body,
            )
        batch = {
            "messages": [
                {"to": TO, "body": "a", "callback_url": "http://169.254.169.254/"},
                {"to": TO, "body": "b", "callback_url": "http://[::ffff:10.0.0.1]/"},
            ]
        }
        self.send(
            "POST /v1/messages/batch, every item's callback_url private",
            Expected("422, items: callback_url_forbidden", "batch_invalid"),
            "POST",
            "/v1/messages/batch",
            self.key,
            batch,
            check=lambda a: (
                f"{a.status}, items: "
                + ",".join(sorted({e["code"] for e in a.json().get("errors", [])}))
            ),
        )

    def malformed(self) -> None:
        """Bodies that are not JSON text: 400 malformed_json (never a 500)."""
        surrogate = b'{"to": "+447400100001", "body": "\\ud800"}'
        invalid = b'{"to": "+447400100001", "body": "\xff\xfe"}'
        for path in ("/v1/messages", "/v1/messages/batch", "/v1/otp", "/v1/opt-outs"):
            for what, raw in (("lone surrogate \\ud800", surrogate), ("invalid UTF-8", invalid)):
                self.send(
                    f"POST {path} body with {what}",
                    Expected(400, "malformed_json"),
                    "POST",
                    path,
                    self.key,
                    raw=raw,
                )
        self.send(
            "POST /v1/campaigns body with lone surrogate",
            Expected(400, "malformed_json"),
            "POST",
            "/v1/campaigns",
            self.key,
            raw=b'{"template": "\\udfff"}',
        )
        self.send(
            "GET /v1/messages?status=%00 (NUL in the query)",
            Expected(422, "invalid_input"),
            "GET",
            "/v1/messages?status=%00",
            self.key,
        )

    def tenants(self) -> None:
        """Another account's things with a non-admin key of account 'other'."""
        made = [
            self.send(f"POST {path} (account demo, setup)", expected, "POST", path, self.key, body)
            for path, body, expected in (
                ("/v1/messages", {"to": TO, "body": "ours"}, Expected(202, stored="messages +1")),
                (
                    "/v1/campaigns",
                    {"name": "ours", "template": "Hi", "from": "Acme"},
                    Expected(201, stored="campaigns +1"),
                ),
                ("/v1/otp", {"to": TO}, Expected(201, stored="messages +1, otp_verifications +1")),
                ("/v1/opt-outs", {"number": "+447400100002"}, Expected(201, stored="opt_outs +1")),
            )
        ]
        mine, campaign, verification = (answer.json()["id"] for answer in made[:3])
        key_id = self.demo_key()["id"]
        for method, path, expected in (
            ("DELETE", "/v1/opt-outs/%2B447400100002", Expected(204)),  # its own list: no-op
            ("GET", f"/v1/messages/{mine}", Expected(404, "not_found")),
            ("GET", "/v1/pricing?account=demo", Expected(403, "forbidden")),
            ("GET", "/v1/keys?account=demo", Expected(403, "admin_required")),
            ("DELETE", f"/v1/keys/{key_id}", Expected(403, "admin_required")),
            ("POST", f"/v1/keys/{key_id}/rotate", Expected(403, "admin_required")),
            ("GET", f"/v1/campaigns/{campaign}", Expected(404, "not_found")),
            ("POST", f"/v1/campaigns/{campaign}/start", Expected(404, "not_found")),
            ("POST", f"/v1/campaigns/{campaign}/cancel", Expected(404, "not_found")),
            ("GET", f"/v1/campaigns/{campaign}/report.csv", Expected(404, "not_found")),
            ("GET", f"/v1/otp/{verification}", Expected(404, "otp_not_found")),
            ("POST", f"/v1/otp/{verification}/cancel", Expected(404, "otp_not_found")),
            ("POST", f"/v1/otp/{verification}/resend", Expected(404, "otp_not_found")),
        ):
            self.send(
                f"{method} {path} with account other's key", expected, method, path, self.other
            )
        self.send(
            "PUT /v1/campaigns/{demo's}/audience with account other's key",
            Expected(404, "not_found"),
            "PUT",
            f"/v1/campaigns/{campaign}/audience",
            self.other,
            raw=b"to\n+447400100001\n",
            headers={"Content-Type": "text/csv"},
        )
        self.send(
            "POST /v1/otp/{demo's}/check with account other's key",
            Expected(404, "otp_not_found"),
            "POST",
            f"/v1/otp/{verification}/check",
            self.other,
            {"code": "123456"},
        )
        self.send(
            "GET /v1/messages with account other's key (lists its own only)",
            Expected("200, 0 messages"),
            "GET",
            "/v1/messages",
            self.other,
            check=lambda a: f"{a.status}, {len(a.json()['messages'])} messages",
        )

    def admin_routes(self) -> None:
        """Admin routes with a non-admin key: 403 admin_required."""
        for method, path in (
            ("GET", "/metrics"),
            ("GET", "/v1/keys"),
            ("POST", "/v1/keys"),
            ("GET", "/v1/routes/explain?to=%2B447700900123"),
            ("GET", "/v1/admin/otp/blocks"),
            ("DELETE", "/v1/admin/otp/blocks/%2B44"),
            ("GET", "/v1/stream?feed=operator"),
        ):
            body = {"account": "demo", "admin": True} if method == "POST" else None
            self.send(
                f"{method} {path} with a non-admin key",
                Expected(403, "admin_required"),
                method,
                path,
                self.key,
                body,
            )

    def idempotency(self) -> None:
        """Stripe's semantics: replay, reuse with another body, concurrent duplicates."""
        body = {"to": TO, "body": "once"}
        first = self.send(
            "POST /v1/messages Idempotency-Key: k-1",
            Expected(202, stored="idempotency_keys +1, messages +1"),
            "POST",
            "/v1/messages",
            self.key,
            body,
            headers={"Idempotency-Key": "k-1"},
        )
        self.send(
            "POST /v1/messages Idempotency-Key: k-1, same body again",
            Expected("202 replayed, same id"),
            "POST",
            "/v1/messages",
            self.key,
            {"body": "once", "to": TO},  # other key order: the same body
            headers={"Idempotency-Key": "k-1"},
            check=lambda a: (
                f"{a.status} "
                + ("replayed" if a.headers.get("idempotent-replayed") == "true" else "fresh")
                + (", same id" if a.json().get("id") == first.json()["id"] else ", other id")
            ),
        )
        self.send(
            "POST /v1/messages Idempotency-Key: k-1, other body",
            Expected(422, "idempotency_key_reused"),
            "POST",
            "/v1/messages",
            self.key,
            {"to": TO, "body": "twice"},
            headers={"Idempotency-Key": "k-1"},
        )
        self.send(
            "POST /v1/messages/batch Idempotency-Key: k-1 (another endpoint)",
            Expected(422, "idempotency_key_reused"),
            "POST",
            "/v1/messages/batch",
            self.key,
            {"messages": [body]},
            headers={"Idempotency-Key": "k-1"},
        )

        def fresh_or_replayed(answer: Answer) -> str:
            again = answer.headers.get("idempotent-replayed") == "true"
            return f"{answer.status} {'replayed' if again else 'fresh'}"

        for path, once, stored in (
            ("/v1/messages/batch", {"messages": [body, body]}, "idempotency_keys +1, messages +2"),
            (
                "/v1/otp",
                {"to": "+447400100003"},
                "idempotency_keys +1, messages +1, otp_verifications +1",
            ),
        ):
            status = 202 if path.endswith("batch") else 201
            for attempt, expected in ((1, Expected(f"{status} fresh", stored=stored)), (2, None)):
                self.send(
                    f"POST {path} Idempotency-Key: k-{path[4:]}, #{attempt}",
                    expected or Expected(f"{status} replayed"),  # no second code is sent
                    "POST",
                    path,
                    self.key,
                    once,
                    headers={"Idempotency-Key": f"k-{path[4:]}"},
                    check=fresh_or_replayed,
                )
        with self.case(
            "8 concurrent POST /v1/messages, one Idempotency-Key: k-2",
            Expected(
                "1 fresh 202; others 409 or replayed",
                None,  # how many of each: the race decides
                "idempotency_keys +1, messages +1",
            ),
        ) as seen:
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                answers = list(
                    pool.map(
                        lambda _n: self.api.call(
                            "POST",
                            "/v1/messages",
                            self.key,
                            {"to": TO, "body": "race"},
                            headers={"Idempotency-Key": "k-2"},
                        ),
                        range(8),
                    )
                )
            fresh = [
                a for a in answers if a.status == 202 and "idempotent-replayed" not in a.headers
            ]
            replayed = [a for a in answers if a.headers.get("idempotent-replayed") == "true"]
            busy = [a for a in answers if a.code == "idempotency_in_progress"]
            same = {a.json()["id"] for a in fresh + replayed}
            ok = len(fresh) == 1 and len(replayed) + len(busy) == 7 and len(same) == 1
            seen["status"] = "1 fresh 202; others 409 or replayed" if ok else "?"
            seen["code"] = f"{len(busy)}x409 {len(replayed)}x replayed"

    def rate_limits(self) -> None:
        """A per-account message rate and a per-key request rate: 429 with the headers."""
        body = {"to": TO, "body": "rate"}
        self.send(
            "POST /v1/messages account limited (1 msg/s), first",
            Expected(202, stored="messages +1"),
            "POST",
            "/v1/messages",
            self.limited,
            body,
        )

        def headers(answer: Answer) -> str:
            wanted = ("retry-after", "ratelimit-policy", "ratelimit")
            present = [h for h in wanted if h in answer.headers]
            return f"{answer.status} +{','.join(present)}"

        self.send(
            "POST /v1/messages account limited, second in the same second",
            Expected("429 +retry-after,ratelimit-policy,ratelimit", "rate_limited"),
            "POST",
            "/v1/messages",
            self.limited,
            body,
            check=headers,
        )
        # The three go back to back inside #1's case (what any of them stored shows there):
        # a case's two database snapshots between #2 and #3 could outlast the ~0.5 s the
        # sliding window leaves when #2 falls at the end of a slot, and #3 would fit.
        with self.case(
            "GET /v1/messages key of account chatty (2 req/s), #1", Expected(200)
        ) as seen:
            answers = [self.api.call("GET", "/v1/messages", self.chatty) for _ in range(3)]
            seen["answer"] = answers[0]
        with self.case(
            "GET /v1/messages key of account chatty (2 req/s), #2", Expected(200)
        ) as seen:
            seen["answer"] = answers[1]
        with self.case(
            "GET /v1/messages key of account chatty, #3",
            Expected("429 +retry-after,ratelimit-policy,ratelimit", "rate_limited"),
        ) as seen:
            seen["answer"] = answers[2]
            seen["status"] = headers(answers[2])

    def bodies(self) -> None:
        """Bodies over the limit (413 before they are read) and headers too slow (closed)."""
        for path, length in (("/v1/messages", 100 * 1024 * 1024), ("/v1/messages/batch", 5 << 20)):
            head = (
                f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: Bearer {self.key}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
            ).encode()
            with self.case(
                f"POST {path} Content-Length: {length}, no byte of it sent",
                Expected(413, "payload_too_large"),
            ) as seen:
                seen["answer"], _ = self.api.raw(head)
        with self.case(
            f"GET /health, headers never finished (deadline {HEADER_TIMEOUT:g} s)",
            Expected("closed, no answer, <3 s"),
        ) as seen:
            answer, elapsed = self.api.raw(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-", 10)
            seen["status"] = (
                "closed, no answer, <3 s"
                if answer.status == 0 and elapsed < 3
                else f"{answer.status} {elapsed:.1f}s"
            )
        self.send(
            "GET /health on a fresh connection after it (the API still answers)",
            Expected(200),
            "GET",
            "/health",
            None,
        )

    def revoked(self) -> None:
        """A key revoked through the API is refused at once (this process's cache is cleared)."""
        made = self.demo_key()
        self.walk(
            ("GET /v1/messages with it (setup)", Expected(200), "GET", "/v1/messages", made["key"]),
            (
                "DELETE /v1/keys/{id} admin revokes it",
                Expected(204, stored="api_keys changed"),
                "DELETE",
                f"/v1/keys/{made['id']}",
                self.admin,
            ),
            (
                "GET /v1/messages with the revoked key",
                Expected(401, "invalid_api_key"),
                "GET",
                "/v1/messages",
                made["key"],
            ),
            (
                "POST /v1/messages with the revoked key",
                Expected(401, "invalid_api_key"),
                "POST",
                "/v1/messages",
                made["key"],
                {"to": TO, "body": "revoked"},
            ),
            (
                "GET /v1/messages with no key",
                Expected(401, "missing_api_key"),
                "GET",
                "/v1/messages",
                None,
            ),
        )

    def backpressure(self) -> None:
        """A second API process whose outbox bound is past (no worker drains it): 503."""
        port = free_port()
        env = {"SWITCHBOARD_OUTBOX_BACKLOG_MAX": "1"}
        self.stack.group.start(
            "api-bounded",
            [sys.executable, "-m", "switchboard", "api", "--port", str(port)],
            extra_env=env,
        )
        wait_for_port(port, timeout=60)  # a fresh process on a loaded host
        bounded = Api(port)
        deadline = time.monotonic() + 60  # sampled every 2 s; a loaded host may take longer
        while time.monotonic() < deadline:  # an empty body: 422 until the sample is in, then 503
            if bounded.call("POST", "/v1/messages", self.key, {}).status == 503:
                break
            time.sleep(0.2)
        with self.case(
            "POST /v1/messages, outbox backlog past outbox_backlog_max (1)",
            Expected("503 +retry-after", "overloaded"),
        ) as seen:
            answer = bounded.call("POST", "/v1/messages", self.key, {"to": TO, "body": "later"})
            seen["answer"] = answer
            seen["status"] = (
                f"{answer.status} +retry-after"
                if "retry-after" in answer.headers
                else str(answer.status)
            )
        self.stack.group.kill("api-bounded")

    def default_secret(self) -> None:
        """`switchboard api` on the development secret, outside the demo: refused at start."""
        with self.case(
            "switchboard api with SWITCHBOARD_SECRET_KEY=<the dev default>",
            Expected("exit 1, refused", "-", "nothing"),
        ) as seen:
            env = {
                **os.environ,
                **self.stack.group.env,
                **random_secrets_env(),
                "SWITCHBOARD_SECRET_KEY": DEV_SECRET_KEY,
            }
            started = subprocess.run(  # noqa: S603 - our own CLI, fixed arguments
                [sys.executable, "-m", "switchboard", "api", "--port", str(free_port())],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            refused = "refusing to start" in started.stderr
            seen["status"] = f"exit {started.returncode}" + (", refused" if refused else "")

    def all(self) -> list[Row]:
        """Every case, in order."""
        for part in (
            self.ssrf,
            self.malformed,
            self.tenants,
            self.admin_routes,
            self.idempotency,
            self.rate_limits,
            self.bodies,
            self.revoked,
            self.backpressure,
            self.default_secret,
        ):
            part()
        return self.rows


def run(var: Path, database_url: str = "") -> list[Row]:
    """Start a stack under `var`, try every case, stop it; the rows."""
    port, control, audit = free_port(), free_port(), var / "audit.jsonl"
    simulator = SIMULATOR.format(control=control, audit=audit, port=port, mps=100, burst="")
    (var / "simulator.toml").write_text(simulator)
    (var / "routes.toml").write_text(ROUTES.format(port=port, mps=100, window=10))
    (var / "limits.toml").write_text(LIMITS)
    stack = Stack(
        var_dir=var / "var",
        routes_file=var / "routes.toml",
        simulator_file=var / "simulator.toml",
        database_url=database_url,
        workers=(),  # nothing is sent: no callback can go anywhere
        extra_env={
            "SWITCHBOARD_CALLBACK_ALLOW_PRIVATE": "",  # the guard at full strength
            "SWITCHBOARD_LIMITS_FILE": str(var / "limits.toml"),
            "SWITCHBOARD_API_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
        },
    )
    try:
        return Run(stack.start()).all()
    finally:
        stack.stop()


def main() -> int:
    """Run the cases; exit status 1 when any answer is not the expected one."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL")
    args = parser.parse_args()
    cluster = start_postgres() if args.postgres else None
    print(HEADER)
    try:
        with tempfile.TemporaryDirectory(prefix="switchboard-hostile-") as tmp:
            url = cluster.create_database("hostile") if cluster is not None else ""
            rows = run(Path(tmp), url)
    finally:
        if cluster is not None:
            cluster.stop()
    wrong = [r.request for r in rows if not r.ok]
    database = "postgresql" if args.postgres else "sqlite"
    print(json.dumps({"cases": len(rows), "wrong": wrong, "database": database}))
    return 1 if wrong else 0


if __name__ == "__main__":
    raise SystemExit(main())
