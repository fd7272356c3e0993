"""Resolved API keys cached per API process for a short while (no key lookup per request).

A key revoked through this process's `DELETE /v1/keys/{id}` is forgotten at once (the cache is
cleared); other API processes refuse it once their entry expires (`key_cache_seconds`).
"""

from __future__ import annotations

import time

from aiohttp import web

from store import KeyOwner


class KeyCache:
    """API key → its owner (or None: unknown), each for `ttl` seconds."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: dict[str, tuple[float, KeyOwner | None]] = {}

    def get(self, key: str) -> tuple[bool, KeyOwner | None]:
        """(known, owner): known is False when the key must be looked up."""
        hit = self._entries.get(key)
        if hit is None or hit[0] < time.monotonic():
            return False, None
        return True, hit[1]

    def put(self, key: str, owner: KeyOwner | None) -> None:
        """Remember `key`'s owner for `ttl` seconds."""
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[key] = (time.monotonic() + self.ttl, owner)

    def clear(self) -> None:
        """Forget every key (after one was revoked: only hashes say which)."""
        self._entries.clear()


KEY_CACHE = web.AppKey("key_cache", KeyCache)
