"""Receipts: TLVs win over text, Appendix B text parses, message ids match across hex/decimal."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carriers.receipts import (
    Receipt,
    message_id_variants,
    normalize_message_id,
    parse_receipt,
    render_receipt_text,
    same_message_id,
)
from messaging.errors import InvalidInput
from messaging.types import ReceiptState

APPENDIX_B = (
    b"id:0123456789 sub:001 dlvrd:001 submit date:2611231530 done date:2611231531 "
    b"stat:DELIVRD err:000 text:Your code is 123456"
)


def test_appendix_b_text_parses() -> None:
    receipt = parse_receipt(APPENDIX_B)

    assert receipt == Receipt(
        carrier_message_id="0123456789",
        state=ReceiptState.DELIVERED,
        error_code="000",
        submitted_at=datetime(2026, 11, 23, 15, 30),
        done_at=datetime(2026, 11, 23, 15, 31),
    )


@pytest.mark.parametrize(
    ("stat", "state"),
    [
        ("DELIVRD", ReceiptState.DELIVERED),
        ("UNDELIV", ReceiptState.UNDELIVERED),
        ("EXPIRED", ReceiptState.EXPIRED),
        ("REJECTD", ReceiptState.REJECTED),
        ("DELETED", ReceiptState.DELETED),
        ("UNKNOWN", ReceiptState.UNKNOWN),
        ("ACCEPTD", ReceiptState.ACCEPTED),
        ("ENROUTE", ReceiptState.ENROUTE),
        ("delivrd", ReceiptState.DELIVERED),
        ("BOGUS", ReceiptState.UNDELIVERED),
    ],
)
def test_every_stat_value_maps_to_a_state(stat: str, state: ReceiptState) -> None:
    assert parse_receipt(f"id:7 stat:{stat} err:000".encode()).state is state


def test_an_unknown_stat_is_undelivered_with_the_raw_word_kept() -> None:
    receipt = parse_receipt(b"id:7 stat:Blocked_By_Op err:042")

    assert (receipt.state, receipt.raw_stat, receipt.error_code) == (
        ReceiptState.UNDELIVERED,
        "Blocked_By_Op",
        "042",
    )
    assert parse_receipt(render_receipt_text(receipt)) == receipt


def test_a_known_stat_keeps_no_raw_word() -> None:
    assert parse_receipt(b"id:7 stat:DELIVRD err:000").raw_stat == ""


def test_the_tlv_state_wins_over_an_unknown_stat_word() -> None:
    receipt = parse_receipt(b"id:7 stat:WHATEVER err:000", {"message_state": 2})

    assert (receipt.state, receipt.raw_stat) == (ReceiptState.DELIVERED, "")


def test_tlvs_win_over_the_text() -> None:
    receipt = parse_receipt(
        b"id:999 stat:UNDELIV err:001",
        {"receipted_message_id": "abc", "message_state": 2},
    )

    assert (receipt.carrier_message_id, receipt.state, receipt.error_code) == (
        "abc",
        ReceiptState.DELIVERED,
        "001",
    )


def test_tlvs_alone_are_enough() -> None:
    receipt = parse_receipt(b"", {"receipted_message_id": "abc", "message_state": 5})

    assert (receipt.carrier_message_id, receipt.state) == ("abc", ReceiptState.UNDELIVERED)


def test_quoted_text_cannot_spoof_the_stat() -> None:
    receipt = parse_receipt(b"id:1 stat:UNDELIV err:005 text:id:2 stat:DELIVRD")

    assert (receipt.carrier_message_id, receipt.state) == ("1", ReceiptState.UNDELIVERED)


def test_capitalised_keys_and_seconds_in_dates_are_accepted() -> None:
    receipt = parse_receipt(b"Id:5 Submit date:261123153005 Done date:261123153107 Stat:DELIVRD")

    assert receipt.submitted_at == datetime(2026, 11, 23, 15, 30, 5)
    assert receipt.done_at == datetime(2026, 11, 23, 15, 31, 7)


@pytest.mark.parametrize(
    "body", [b"stat:DELIVRD err:000", b"id:5 err:000", b"", b"id:5 stat:DELIVRD done date:99"]
)
def test_receipt_without_id_or_state_or_with_bad_date_is_invalid_input(body: bytes) -> None:
    with pytest.raises(InvalidInput):
        parse_receipt(body)


@pytest.mark.parametrize(
    ("raw", "normal"),
    [("  00ABC ", "abc"), ("0", "0"), ("000", "0"), ("", ""), ("1a2B", "1a2b"), ("42", "42")],
)
def test_normalize_message_id(raw: str, normal: str) -> None:
    assert normalize_message_id(raw) == normal


def test_hex_submit_id_matches_decimal_receipt_id_and_back() -> None:
    assert same_message_id("1A2B", "6699")
    assert same_message_id("6699", "1a2b")
    assert same_message_id("00ff", "255")
    assert not same_message_id("1a2b", "6698")


def test_variants_of_a_non_numeric_id_are_just_the_normal_form() -> None:
    assert message_id_variants(" Msg-42 ") == ("msg-42",)


IDS = st.one_of(
    st.integers(min_value=0, max_value=2**64).map(str),
    st.integers(min_value=0, max_value=2**64).map(lambda n: format(n, "X")),
    st.integers(min_value=0, max_value=2**64).map(lambda n: format(n, "x").zfill(16)),
    st.uuids().map(str),
    st.text(alphabet="0123456789abcdefABCDEF-_", min_size=1, max_size=40),
)


@given(IDS.map(lambda s: f"  {s}\t"))
def test_normalisation_is_idempotent(raw: str) -> None:
    once = normalize_message_id(raw)

    assert normalize_message_id(once) == once


@given(st.integers(min_value=0, max_value=2**64))
def test_the_same_number_in_hex_and_decimal_always_matches(number: int) -> None:
    assert same_message_id(format(number, "X").zfill(10), str(number))


# Receipts carry two-digit years, read as 20YY.
MINUTES = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31, 23, 59)
).map(lambda d: d.replace(microsecond=0))
RECEIPTS = st.builds(
    Receipt,
    carrier_message_id=IDS,
    state=st.sampled_from(ReceiptState),
    error_code=st.from_regex(r"\A[0-9]{3}\Z"),
    submitted_at=st.none() | MINUTES,
    done_at=st.none() | MINUTES,
)


@given(RECEIPTS, st.text(alphabet="abc xyz:0123", max_size=20))
def test_parse_inverts_render(receipt: Receipt, text: str) -> None:
    assert parse_receipt(render_receipt_text(receipt, text=text)) == receipt
