"""Codes: generated with `secrets`, stored only as an HMAC-SHA256, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets

MIN_LENGTH = 4
MAX_LENGTH = 10


def generate_code(length: int) -> str:
    """A uniformly random decimal code of `length` digits (leading zeros kept).

    Raises:
        ValueError: `length` outside 4..10.
    """
    if not MIN_LENGTH <= length <= MAX_LENGTH:
        raise ValueError(f"code length must be {MIN_LENGTH}..{MAX_LENGTH}, got {length!r}")
    return "".join(secrets.choice("0123456789") for _ in range(length))


def hash_code(secret: bytes, verification_id: str, code: str) -> str:
    """Keyed hash of `code`, bound to its verification so a hash is useless anywhere else."""
    message = f"{verification_id}:{code}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def code_matches(secret: bytes, verification_id: str, code: str, stored_hash: str) -> bool:
    """True when `code` hashes to `stored_hash`; constant time in the hash comparison."""
    return hmac.compare_digest(hash_code(secret, verification_id, code), stored_hash)
