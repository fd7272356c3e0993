"""Plain values a session is configured with and hands out: endpoint, submit part, MO message."""

from __future__ import annotations

from dataclasses import dataclass, field

from messaging import ConcatRef

# SMPP 3.4 §5.2.5 (TON) and §5.2.6 (NPI).
TON_INTERNATIONAL, TON_ALPHANUMERIC = 0x01, 0x05
NPI_UNKNOWN, NPI_ISDN = 0x00, 0x01
AUTO = -1  # a TON/NPI derived from the address itself

# SMPP 3.4 §5.2.12 esm_class: bit 6 = UDH indicator.
ESM_CLASS_UDHI = 0x40


@dataclass(frozen=True)
class Endpoint:
    """Where and as whom a session binds (SMPP 3.4 §4.1.5 bind_transceiver)."""

    name: str
    host: str
    port: int
    system_id: str
    password: str = field(repr=False)
    system_type: str = ""


def source_ton_npi(source: str) -> tuple[int, int]:
    """Alphanumeric sender → TON 5 / NPI 0; numeric (optionally `+`) → TON 1 / NPI 1."""
    digits = source.removeprefix("+")
    if digits.isdigit() and digits.isascii():
        return TON_INTERNATIONAL, NPI_ISDN
    return TON_ALPHANUMERIC, NPI_UNKNOWN


@dataclass(frozen=True)
class SubmitPart:
    """One `submit_sm`: one SMS segment, one MPS token, one carrier message id.

    `source_ton`/`source_npi` left at AUTO are derived from `source` (see
    :func:`source_ton_npi`); a leading `+` on numeric addresses is dropped, since the
    TON already says "international" (SMPP 3.4 §5.2.8).
    """

    source: str
    destination: str
    short_message: bytes
    data_coding: int
    esm_class: int = 0
    registered_delivery: int = 1
    source_ton: int = AUTO
    source_npi: int = AUTO
    dest_ton: int = TON_INTERNATIONAL
    dest_npi: int = NPI_ISDN

    def __post_init__(self) -> None:
        ton, npi = source_ton_npi(self.source)
        if self.source_ton == AUTO:
            object.__setattr__(self, "source_ton", ton)
        if self.source_npi == AUTO:
            object.__setattr__(self, "source_npi", npi)
        if ton == TON_INTERNATIONAL:
            object.__setattr__(self, "source", self.source.removeprefix("+"))
        object.__setattr__(self, "destination", self.destination.removeprefix("+"))


@dataclass(frozen=True)
class Mo:
    """A mobile-originated message the carrier delivered to us (a non-receipt deliver_sm)."""

    source: str
    destination: str
    text: str
    part: ConcatRef | None = None  # one part of a concatenated message (UDH IEI 0x00 / 0x08)
