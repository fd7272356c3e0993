"""The SSRF guard at delivery time: DNS may have changed since the API checked a callback URL.

`GuardedResolver` is the resolver of the dispatcher's connector: every address a host resolves
to is checked against the `CallbackPolicy` and the host is refused if any is not allowed, so the
connector only ever connects to addresses that were checked (no second lookup between check and
connect, which is what DNS rebinding exploits). Literal addresses skip aiohttp's resolver, so
`check_target` checks the URL itself before each POST. Redirects are not followed (the
dispatcher posts with `allow_redirects=False`): a 3xx is a failed delivery.
"""

from __future__ import annotations

import socket

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from yarl import URL

from messaging import CallbackPolicy, CallbackUrlForbidden, InvalidInput, numeric_host


class CallbackRefused(OSError):
    """A callback host or address the policy refuses (an `OSError`, as aiohttp's DNS errors)."""


class GuardedResolver(AbstractResolver):
    """Resolves through `inner` (the system resolver by default) and drops refused hosts."""

    def __init__(self, policy: CallbackPolicy, inner: AbstractResolver | None = None) -> None:
        self._policy = policy
        self._inner = inner or ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """`host`'s addresses, all checked; raises `CallbackRefused` if any is refused."""
        results = await self._inner.resolve(host, port, family)
        try:
            self._policy.check_resolved(host, [r["host"] for r in results])
        except CallbackUrlForbidden as error:
            raise CallbackRefused(str(error)) from None
        return results

    async def close(self) -> None:
        """Close the inner resolver."""
        await self._inner.close()


def check_target(policy: CallbackPolicy, url: str) -> None:
    """Refuse `url` before any connection when its host is a literal address not allowed (as
    the API did, and as aiohttp reads the host too: it never asks the resolver for those).

    Raises:
        CallbackRefused: with the reason.
    """
    try:
        policy.check_url(url)
        host = URL(url).raw_host or ""
        address = numeric_host(host)
        if address is not None:
            policy.check_address(host, address)
    except InvalidInput as error:  # CallbackUrlForbidden included
        raise CallbackRefused(str(error)) from None
