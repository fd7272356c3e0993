"""Codes: right length and alphabet, hash bound to its verification and key."""

from __future__ import annotations

from collections import Counter

import pytest

from otp import code_matches, generate_code, hash_code


@pytest.mark.parametrize("length", [4, 6, 10])
def test_generated_codes_are_digits_of_the_asked_length(length: int) -> None:
    codes = [generate_code(length) for _ in range(200)]
    assert all(len(c) == length and c.isdigit() for c in codes)


def test_generated_digits_are_spread_over_all_ten() -> None:
    digits = Counter("".join(generate_code(10) for _ in range(500)))
    assert set(digits) == set("0123456789")
    assert min(digits.values()) > 350  # 5,000 digits: ~500 each; a broken generator fails


@pytest.mark.parametrize("length", [3, 11])
def test_lengths_outside_4_to_10_are_refused(length: int) -> None:
    with pytest.raises(ValueError, match=r"4\.\.10"):
        generate_code(length)


def test_hash_depends_on_key_verification_and_code() -> None:
    base = hash_code(b"k1", "v1", "123456")
    assert "123456" not in base and len(base) == 64
    assert base != hash_code(b"k2", "v1", "123456")
    assert base != hash_code(b"k1", "v2", "123456")
    assert base != hash_code(b"k1", "v1", "123457")
    assert code_matches(b"k1", "v1", "123456", base)
    assert not code_matches(b"k1", "v1", "654321", base)
    assert not code_matches(b"k1", "v2", "123456", base)
