"""Receipt text, deliver_sm shape, UDH parsing and message ids."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from messaging import decode_gsm7
from simulators.ids import MessageIds
from simulators.pdu import Cmd, ShortMessage, Tag
from simulators.receipts import (
    DELIVERED,
    UNDELIVERABLE,
    PendingReceipt,
    preview_text,
    receipt_pdu,
    render_text,
)
from simulators.udh import concatenation

SUBMITTED = datetime(2026, 3, 1, 9, 15, 30, tzinfo=UTC).timestamp()
DONE = datetime(2026, 3, 1, 9, 16, 2, tzinfo=UTC).timestamp()


def receipt(**overrides: object) -> PendingReceipt:
    fields: dict[str, object] = {
        "message_id": "1a2b3c",
        "source": "Switchboard",
        "destination": "447700900123",
        "submitted_at": SUBMITTED,
        "short_message": b"Your code is 123456. Do not share it.",
        "esm_class": 0,
        "data_coding": 0,
        "outcome": DELIVERED,
        "error": 0,
    }
    fields.update(overrides)
    return PendingReceipt(**fields)  # type: ignore[arg-type]


def test_delivered_receipt_text_follows_appendix_b() -> None:
    assert render_text(receipt(), DONE) == (
        "id:1a2b3c sub:001 dlvrd:001 submit date:2603010915 done date:2603010916"
        " stat:DELIVRD err:000 text:Your code is 123456."
    )


def test_undelivered_receipt_reports_stat_err_and_nothing_delivered() -> None:
    text = render_text(receipt(outcome=UNDELIVERABLE, error=1), DONE)
    assert " dlvrd:000 " in text
    assert " stat:UNDELIV err:001 " in text


def test_preview_skips_the_udh_and_decodes_ucs2() -> None:
    udh = bytes([5, 0, 3, 0x42, 2, 1])
    body = udh + "Привет, мир! Это тест сообщения".encode("utf-16-be")
    text = render_text(receipt(short_message=body, esm_class=0x40, data_coding=8), DONE)
    assert text.endswith("text:Привет, мир! Это тес")  # 20 characters


def test_receipt_pdu_swaps_addresses_and_carries_the_tlvs() -> None:
    pdu = receipt_pdu(receipt(outcome=UNDELIVERABLE, error=1), DONE, sequence=77)
    body = pdu.body
    assert isinstance(body, ShortMessage)
    assert (pdu.command_id, pdu.sequence, body.esm_class) == (Cmd.DELIVER_SM, 77, 0x04)
    assert (body.source_addr, body.destination_addr) == ("447700900123", "Switchboard")
    assert body.tlvs == {Tag.RECEIPTED_MESSAGE_ID: b"1a2b3c\x00", Tag.MESSAGE_STATE: b"\x05"}
    assert body.short_message.startswith(b"id:1a2b3c ")


def test_receipt_text_is_plain_ascii_whatever_the_message() -> None:
    body = "ÆØÅ €5 ok".encode("utf-16-be")
    pdu = receipt_pdu(receipt(short_message=body, data_coding=8), DONE, sequence=1)
    assert isinstance(pdu.body, ShortMessage)
    assert pdu.body.short_message.endswith(b"text:??? ?5 ok")


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            ShortMessage("a", "b", bytes([5, 0, 3, 0x42, 3, 2]) + b"hi", esm_class=0x40),
            (0x42, 3, 2),
        ),
        (
            ShortMessage("a", "b", bytes([6, 8, 4, 0x12, 0x34, 2, 1]) + b"hi", esm_class=0x40),
            (0x1234, 2, 1),
        ),
        (
            ShortMessage(
                "a",
                "b",
                b"hi",
                tlvs={
                    Tag.SAR_MSG_REF_NUM: b"\x01\x02",
                    Tag.SAR_TOTAL_SEGMENTS: b"\x04",
                    Tag.SAR_SEGMENT_SEQNUM: b"\x03",
                },
            ),
            (0x0102, 4, 3),
        ),
        (ShortMessage("a", "b", bytes([5, 0, 3, 0x42, 3, 2]) + b"hi"), None),  # UDHI not set
        (ShortMessage("a", "b", bytes([4, 0x24, 2, 1, 1]), esm_class=0x40), None),  # other IE
    ],
    ids=["udh-8bit", "udh-16bit", "sar-tlvs", "no-udhi", "no-concat-ie"],
)
def test_concatenation_is_read_from_udh_or_sar_tlvs(
    message: ShortMessage, expected: tuple[int, int, int] | None
) -> None:
    assert concatenation(message) == expected


def test_hex_ids_are_unique_and_replayable_from_the_seed() -> None:
    first = [MessageIds("hex", random.Random("7/alpha")).next() for _ in range(1)]
    ids = MessageIds("hex", random.Random("7/alpha"))
    drawn = [ids.next() for _ in range(1000)]
    assert drawn[0] == first[0]
    assert len(set(drawn)) == 1000
    assert all(int(i, 16) >= 1 << 40 for i in drawn)


def test_decimal_ids_are_digits() -> None:
    ids = MessageIds("decimal", random.Random(1))
    assert all(ids.next().isdigit() for _ in range(100))


@given(st.binary(max_size=60))
def test_gsm7_preview_fast_path_agrees_with_messaging(body: bytes) -> None:
    assert preview_text(body, 0, 0) == decode_gsm7(body[:40])[:20]
