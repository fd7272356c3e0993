"""Mobile-originated messages: a subscriber's reply delivered to the ESME (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from messaging import Encoding, encode, segment
from simulators.pdu import Cmd, Pdu, ShortMessage

_DATA_CODING = {Encoding.GSM7: 0x00, Encoding.UCS2: 0x08}  # SMPP 3.4 §5.2.19


@dataclass(frozen=True, slots=True)
class MobileOriginated:
    """One MO short message, sent as a deliver_sm with esm_class 0 (§4.6.1)."""

    source: str
    destination: str
    short_message: bytes
    data_coding: int
    is_receipt: ClassVar[bool] = False

    def to_pdu(self, done_at: float, sequence: int) -> Pdu:
        """The deliver_sm carrying this message."""
        body = ShortMessage(
            source_addr=self.source,
            destination_addr=self.destination,
            short_message=self.short_message,
            data_coding=self.data_coding,
            source_addr_ton=1,  # international, §5.2.5
            source_addr_npi=1,  # E.164, §5.2.6
        )
        return Pdu(Cmd.DELIVER_SM, sequence, body=body)


def mobile_originated(source: str, destination: str, text: str) -> MobileOriginated:
    """An MO from subscriber `source` to the ESME's `destination` (a short code or sender id).

    Raises:
        ValueError: the text does not fit one segment.
    """
    split = segment(text)
    if split.segments != 1:
        raise ValueError(f"an MO must fit one segment, this needs {split.segments}")
    return MobileOriginated(
        source.lstrip("+"), destination, encode(text, split.encoding), _DATA_CODING[split.encoding]
    )
