"""Issue-4 behaviours: id formats, duplicate receipts, prefix rules, delay shapes."""

from __future__ import annotations

import random
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulators.carrier import CarrierRuntime
from simulators.delays import draw_ms
from simulators.ids import ID_FORMATS, MessageIds, convert_id
from simulators.pdu import ShortMessage
from simulators.receipts import PendingReceipt
from simulators.scenario import CarrierSim, DelayRange, PrefixRule
from tests.fakes import FakeClock


def runtime(**fields: object) -> tuple[CarrierRuntime, FakeClock]:
    clock = FakeClock(100.0)
    config = CarrierSim.model_validate(
        {"name": "a", "system_id": "a", "receipt_delay_ms": 0, "mps": 10_000} | fields
    )
    return CarrierRuntime(config, 3, clock, clock), clock


def ready_receipts(carrier: CarrierRuntime) -> list[PendingReceipt]:
    receipts = [item for item in carrier.ready if isinstance(item, PendingReceipt)]
    assert len(receipts) == len(carrier.ready)
    return receipts


def test_each_id_format_renders_as_named() -> None:
    rendered = {name: render(0xABC) for name, render in ID_FORMATS.items()}
    assert rendered == {
        "hex": "abc",
        "hex_upper": "ABC",
        "hex_padded": "0000000000000abc",
        "decimal": "2748",
        "decimal_padded": "00000000000000002748",
    }


@given(
    st.integers(0, 1 << 60),
    st.sampled_from(sorted(ID_FORMATS)),
    st.sampled_from(sorted(ID_FORMATS)),
)
def test_converting_an_id_and_back_gives_it_again(number: int, first: str, second: str) -> None:
    original = ID_FORMATS[first](number)
    assert convert_id(convert_id(original, first, second), second, first) == original


def test_receipt_can_quote_the_id_in_another_format() -> None:
    carrier, _ = runtime(message_id_format="hex", receipt_id_format="decimal")
    message_id = MessageIds("hex", random.Random(0)).next()
    carrier.accept(ShortMessage("s", "d", b"x", registered_delivery=1), message_id, 0.0)
    carrier.pump()
    assert ready_receipts(carrier)[0].message_id == str(int(message_id, 16))


def test_duplicate_share_one_sends_every_receipt_twice() -> None:
    carrier, _ = runtime(duplicate_receipt_share=1.0)
    carrier.accept(ShortMessage("s", "d", b"x", registered_delivery=1), "abc", 0.0)
    carrier.pump()
    assert [r.message_id for r in ready_receipts(carrier)] == ["abc", "abc"]
    assert carrier.receipts_pending == 2


def test_longest_prefix_rule_wins_and_plus_is_ignored() -> None:
    carrier, _ = runtime(
        prefixes=[
            PrefixRule(prefix="44", undelivered_share=0.0),
            PrefixRule(prefix="+447700", submit_status=0x0B),
        ]
    )
    assert carrier.rule_for("447700900123") == PrefixRule(prefix="+447700", submit_status=0x0B)
    assert carrier.rule_for("+441632960000") == PrefixRule(prefix="44", undelivered_share=0.0)
    assert carrier.rule_for("33612345678") is None


def test_prefix_rule_sets_the_outcome_mix() -> None:
    carrier, _ = runtime(
        undelivered_share=0.0, prefixes=[PrefixRule(prefix="49", undelivered_share=1.0)]
    )
    for destination in ("4915112345678", "447700900123"):
        message = ShortMessage("s", destination, b"x", registered_delivery=1)
        carrier.accept(message, destination, 0.0, carrier.rule_for(destination))
    carrier.pump()
    assert {r.message_id: r.outcome.stat for r in ready_receipts(carrier)} == {
        "4915112345678": "UNDELIV",
        "447700900123": "DELIVRD",
    }


def test_uniform_delay_stays_in_range_and_fixed_is_fixed() -> None:
    rng = random.Random(5)
    draws = [draw_ms(DelayRange(min=50, max=300), rng) for _ in range(1000)]
    assert min(draws) >= 50
    assert max(draws) <= 300
    assert draw_ms(DelayRange(min=40, max=40), rng) == 40


def test_exponential_delay_has_its_mean_and_a_capped_tail() -> None:
    rng = random.Random(9)
    shape = DelayRange(min=20, max=5000, shape="exponential", mean=120)
    draws = [draw_ms(shape, rng) for _ in range(20_000)]
    assert min(draws) >= 20
    assert max(draws) <= 5000
    assert statistics.fmean(draws) == pytest.approx(120, rel=0.05)
    assert statistics.median(draws) < 120  # long tail: the median sits below the mean


def test_exponential_delay_needs_a_mean_inside_the_range() -> None:
    with pytest.raises(ValueError, match="min < mean <= max"):
        DelayRange(min=10, max=100, shape="exponential")
