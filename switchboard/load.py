"""Client-side load: many POST /v1/messages over a few keep-alive connections (demo, e2e, bench)."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

# Valid numbers in four countries (phonenumbers-valid mobile ranges), for generated traffic.
_PREFIXES = (("+4474001", 5), ("+336123", 5), ("+4915112", 6), ("+1212555", 4))
_CLASSES = (("otp", 0.1), ("transactional", 0.3), ("marketing", 0.6))


def generated_messages(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """`count` request bodies spread over countries and classes, replayable by `seed`."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        prefix, digits = _PREFIXES[i % len(_PREFIXES)]
        number = prefix + "".join(rng.choice("0123456789") for _ in range(digits))
        message_class = rng.choices([c for c, _ in _CLASSES], [w for _, w in _CLASSES])[0]
        body = f"Switchboard demo message {i}: your code is {rng.randint(100000, 999999)}"
        out.append({"to": number, "from": "Switchboard", "body": body, "class": message_class})
    return out


@dataclass
class LoadResult:
    """What the API answered."""

    accepted: list[str] = field(default_factory=list)
    rejected: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    accept_latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)  # every non-202 answer, retried too
    connection_errors: int = 0  # connection refused: the body never left, so it was tried again
    connection_lost: int = 0  # reset or timed out mid-request: maybe committed, never resent

    @property
    def accepted_per_second(self) -> float:
        """Accepted messages per second of sending."""
        return len(self.accepted) / self.seconds if self.seconds else 0.0


RETRIED_STATUSES = frozenset({503})  # "try again later": nothing was written
MAX_TRIES = 100  # per body: a client gives up on an API that stays away (~100 s)


async def send_all(
    api_url: str,
    api_key: str,
    bodies: Sequence[dict[str, Any]],
    concurrency: int = 64,
    progress: Any = None,
    request_timeout: float = 30.0,
) -> LoadResult:
    """POST every body with `concurrency` requests in flight; never raises for the API's sake.

    A client that cannot connect (the API is restarting) waits and tries the same body again:
    nothing reached the server. A request cut off after it was sent, or timed out, may have been
    committed and there is no idempotency key, so it is counted (`connection_lost`), not resent.
    A 503 is tried again after its `Retry-After` (capped at 5 s); any other answer but 202
    (or the last try) counts in `rejected`, `errors` (by problem code) and `statuses`.
    """
    result = LoadResult()
    headers = {"Authorization": f"Bearer {api_key}"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=request_timeout)
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)

    async def post(session: aiohttp.ClientSession, body: dict[str, Any]) -> None:
        backoff = 0.05
        for tries in range(1, MAX_TRIES + 1):
            started = time.perf_counter()
            try:
                async with session.post(
                    f"{api_url}/v1/messages", json=body, headers=headers
                ) as response:
                    raw = await response.read()
            except aiohttp.ClientConnectorError:
                result.connection_errors += 1
                if tries == MAX_TRIES:
                    result.rejected += 1
                    result.errors["connection_refused"] = 1 + result.errors.get(
                        "connection_refused", 0
                    )
                    return
                await asyncio.sleep(backoff)
                backoff = min(1.0, backoff * 2)
                continue
            except (aiohttp.ClientError, TimeoutError):
                result.connection_lost += 1
                return
            status = response.status
            result.accept_latencies.append(time.perf_counter() - started)
            if status == 202:
                result.accepted.append(str(_json(raw).get("id")))
                return
            result.statuses[status] = result.statuses.get(status, 0) + 1
            if status in RETRIED_STATUSES and tries < MAX_TRIES:
                await asyncio.sleep(_retry_after(response.headers.get("Retry-After"), backoff))
                backoff = min(1.0, backoff * 2)
                continue
            result.rejected += 1
            code = str(_json(raw).get("code", status))
            result.errors[code] = result.errors.get(code, 0) + 1
            return

    async def worker(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            await post(session, queue.get_nowait())
            if progress is not None:
                progress()

    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    result.seconds = time.perf_counter() - started
    return result


def _json(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object, or {} (a 500 from aiohttp is text/plain)."""
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _retry_after(header: str | None, fallback: float) -> float:
    """Seconds to wait before trying again: `Retry-After` in seconds (capped at 5) or fallback."""
    try:
        return min(5.0, max(0.0, float(header))) if header else fallback
    except ValueError:
        return fallback


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100) by nearest rank, or None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]
