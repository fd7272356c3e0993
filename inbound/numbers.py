"""Subscriber and service addresses as an MO carries them (pure)."""

from __future__ import annotations


def subscriber_number(source_addr: str) -> str:
    """The sender of an MO in E.164 when it is all digits (TON international), else as given.

    Carriers send `source_addr` without the `+` (SMPP 3.4 §5.2.8: the TON says international);
    opt-outs are kept by the E.164 form the API sends to.
    """
    digits = source_addr.removeprefix("+")
    return f"+{digits}" if digits.isdigit() and digits.isascii() else source_addr


def service_key(destination_addr: str) -> str:
    """The lookup key of one of our numbers or short codes: its digits, without `+`."""
    return destination_addr.strip().removeprefix("+")
