"""Client-side load: many POST /v1/messages over a few keep-alive connections (demo, e2e, bench)."""

from __future__ import annotations

import asyncio
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

    @property
    def accepted_per_second(self) -> float:
        """Accepted messages per second of sending."""
        return len(self.accepted) / self.seconds if self.seconds else 0.0


async def send_all(
    api_url: str,
    api_key: str,
    bodies: Sequence[dict[str, Any]],
    concurrency: int = 64,
    progress: Any = None,
) -> LoadResult:
    """POST every body with `concurrency` requests in flight."""
    result = LoadResult()
    headers = {"Authorization": f"Bearer {api_key}"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)

    async def worker(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            body = queue.get_nowait()
            started = time.perf_counter()
            async with session.post(
                f"{api_url}/v1/messages", json=body, headers=headers
            ) as response:
                data = await response.json(content_type=None)
            result.accept_latencies.append(time.perf_counter() - started)
            if response.status == 202:
                result.accepted.append(data["id"])
            else:
                result.rejected += 1
                code = str(data.get("code", response.status))
                result.errors[code] = result.errors.get(code, 0) + 1
            if progress is not None:
                progress()

    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    result.seconds = time.perf_counter() - started
    return result


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100) by nearest rank, or None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]
