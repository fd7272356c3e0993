"""The carrier model driven by hand: receipts, round-robin, re-queueing, counters."""

from __future__ import annotations

from simulators.carrier import CarrierRuntime, Deliverable
from simulators.pdu import ShortMessage
from simulators.receipts import PendingReceipt
from simulators.scenario import CarrierSim
from tests.fakes import FakeClock


class FakeSink:
    """A bound receiver that records what it was sent."""

    def __init__(self, window: int = 100) -> None:
        self.window = window
        self.sent: list[PendingReceipt] = []
        self.flushes = 0

    def has_room(self) -> bool:
        return len(self.sent) < self.window

    def send_deliver(self, item: Deliverable, done_at: float) -> None:
        assert isinstance(item, PendingReceipt)
        self.sent.append(item)

    def flush(self) -> None:
        self.flushes += 1


def runtime(**config: object) -> tuple[CarrierRuntime, FakeClock]:
    clock = FakeClock(100.0)
    fields: dict[str, object] = {"name": "alpha", "system_id": "alpha", "receipt_delay_ms": 100}
    fields.update(config)
    carrier = CarrierRuntime(CarrierSim(**fields), 1, clock, FakeClock(1.7e9))
    return carrier, clock


def submit(carrier: CarrierRuntime, registered_delivery: int = 1) -> str:
    assert carrier.admit()
    message_id = carrier.ids.next()
    message = ShortMessage("src", "dst", b"hi", registered_delivery=registered_delivery)
    carrier.accept(message, message_id, 0.0)
    return message_id


def test_receipt_waits_for_its_delay() -> None:
    carrier, clock = runtime()
    sink = FakeSink()
    carrier.receivers.append(sink)
    message_id = submit(carrier)
    clock.now += 0.099
    carrier.pump()
    assert sink.sent == []
    clock.now += 0.001
    carrier.pump()
    assert [r.message_id for r in sink.sent] == [message_id]
    assert (carrier.receipts_sent, carrier.receipts_pending) == (1, 1)


def test_receipts_are_held_until_a_receiver_binds() -> None:
    carrier, clock = runtime()
    submit(carrier)
    clock.now += 1
    carrier.pump()
    assert len(carrier.ready) == 1
    sink = FakeSink()
    carrier.receivers.append(sink)
    carrier.pump()
    assert len(sink.sent) == 1


def test_receipts_go_round_robin_and_respect_each_window() -> None:
    carrier, clock = runtime()
    first, second = FakeSink(window=2), FakeSink(window=10)
    carrier.receivers.extend([first, second])
    ids = [submit(carrier) for _ in range(6)]
    clock.now += 1
    carrier.pump()
    assert [r.message_id for r in first.sent] == [ids[0], ids[2]]
    assert [r.message_id for r in second.sent] == [ids[1], ids[3], ids[4], ids[5]]
    assert (first.flushes, second.flushes) == (1, 1)


def test_requeued_receipts_go_out_first_and_in_order() -> None:
    carrier, clock = runtime()
    ids = [submit(carrier) for _ in range(3)]
    clock.now += 1
    carrier.pump()  # no receiver: all three wait in ready
    dropped = [carrier.ready.popleft(), carrier.ready.popleft()]
    carrier.requeue(dropped)
    sink = FakeSink()
    carrier.receivers.append(sink)
    carrier.pump()
    assert [r.message_id for r in sink.sent] == ids


def test_refused_receipt_is_offered_again_after_a_pause() -> None:
    carrier, clock = runtime()
    sink = FakeSink()
    carrier.receivers.append(sink)
    submit(carrier)
    clock.now += 1
    carrier.pump()
    carrier.refused(sink.sent[0])
    clock.now += 0.5
    carrier.pump()
    assert len(sink.sent) == 1
    clock.now += 0.5
    carrier.pump()
    assert len(sink.sent) == 2
    carrier.acked(sink.sent[1])
    assert carrier.receipts_pending == 0


def test_registered_delivery_decides_whether_a_receipt_is_made() -> None:
    carrier, _ = runtime(undelivered_share=0.0)
    submit(carrier, registered_delivery=0)
    submit(carrier, registered_delivery=2)  # failure-only: the message was delivered
    assert carrier.receipts_created == 0
    submit(carrier, registered_delivery=1)
    assert carrier.receipts_created == 1


def test_failure_only_receipts_come_for_undelivered_messages() -> None:
    carrier, _ = runtime(undelivered_share=1.0)
    submit(carrier, registered_delivery=2)
    assert carrier.receipts_created == 1


def test_undelivered_share_is_roughly_honoured_and_replayable() -> None:
    def outcomes() -> list[str]:
        carrier, clock = runtime(undelivered_share=0.25, mps=10_000)
        sink = FakeSink(window=10_000)
        carrier.receivers.append(sink)
        for _ in range(2000):
            submit(carrier)
        clock.now += 1
        carrier.pump()
        return [r.outcome.stat for r in sink.sent]

    first = outcomes()
    assert first == outcomes()
    assert 400 <= first.count("UNDELIV") <= 600


def test_receipts_off_makes_none() -> None:
    carrier, _ = runtime(receipts=False)
    submit(carrier)
    assert carrier.receipts_created == 0


def test_admit_counts_accepted_throttled_and_peak() -> None:
    carrier, _ = runtime(mps=5)
    results = [carrier.admit() for _ in range(8)]
    assert results == [True] * 5 + [False] * 3
    stats = carrier.stats()
    assert (stats["submits_accepted"], stats["throttled"], stats["max_mps_1s"]) == (5, 3, 5)


def test_set_mps_changes_the_limit_live() -> None:
    carrier, _ = runtime(mps=100)
    carrier.set_mps(3)
    assert sum(carrier.admit() for _ in range(10)) == 3
    assert carrier.stats()["mps"] == 3


def test_outcome_bands_follow_their_shares_and_replay() -> None:
    def outcomes() -> list[str]:
        carrier, clock = runtime(
            undelivered_share=0.2, expired_share=0.1, no_receipt_share=0.1, mps=10_000
        )
        sink = FakeSink(window=10_000)
        carrier.receivers.append(sink)
        for _ in range(2000):
            submit(carrier)
        clock.now += 1
        carrier.pump()
        assert carrier.receipts_withheld + len(sink.sent) == 2000
        return [r.outcome.stat for r in sink.sent]

    first = outcomes()
    assert first == outcomes()  # same seed, same fates
    counts = {stat: first.count(stat) for stat in set(first)}
    assert set(counts) == {"DELIVRD", "UNDELIV", "EXPIRED"}
    assert 0.15 * 2000 < counts["UNDELIV"] < 0.25 * 2000
    assert 0.06 * 2000 < counts["EXPIRED"] < 0.14 * 2000
    assert 0.55 * 2000 < counts["DELIVRD"] < 0.65 * 2000


def test_queueing_carrier_answers_the_burst_at_once_and_delays_the_rest() -> None:
    carrier, _ = runtime(throttle="queue", mps=10, burst=3)
    delays = [round(carrier.admit_queued(), 6) for _ in range(5)]
    assert delays == [0.0, 0.0, 0.0, 0.1, 0.2]
    assert (carrier.submits_accepted, carrier.queued, carrier.throttled) == (5, 2, 0)


def test_a_burst_1_carrier_counts_throttles_that_follow_another_binds_submit() -> None:
    carrier, clock = runtime(mps=100, burst=1)
    one, two = object(), object()
    assert carrier.admit(one)
    clock.advance(0.004)  # under 1/M = 10 ms
    assert not carrier.admit(one)  # the same bind's stream too close: its own spacing
    assert not carrier.admit(two)  # the other bind's PDU next to the first one's
    clock.advance(0.006)
    assert carrier.admit(two)
    clock.advance(0.005)
    assert not carrier.admit(one)
    stats = carrier.stats()
    assert (stats["throttled"], stats["throttled_after_other_bind"]) == (3, 2)


def test_a_throttle_says_how_soon_after_the_last_accepted_submit_it_came() -> None:
    """Its gap (the first and the last kept), and whether it had the very stamp of that one
    (two segments coalesced while the simulator did not read: its lateness, not the sender's)."""
    carrier, _ = runtime(mps=100, burst=1)
    assert carrier.admit(at=5.0)
    assert not carrier.admit(at=5.0)
    assert not carrier.admit(at=5.0042)
    stats = carrier.stats()
    assert (stats["first_throttle_gap_us"], stats["last_throttle_gap_us"]) == (0, 4200)
    assert (stats["throttled"], stats["throttled_same_stamp"]) == (2, 1)
