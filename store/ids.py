"""Identifiers: time-ordered random ids (index-friendly on PostgreSQL, unguessable)."""

from __future__ import annotations

import secrets
import time


def new_id() -> str:
    """32 hex chars: 48-bit millisecond timestamp + 80 random bits (UUIDv7-like ordering)."""
    return f"{int(time.time() * 1000):012x}{secrets.token_hex(10)}"
