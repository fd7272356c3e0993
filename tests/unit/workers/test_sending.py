"""The send path with twins: memory buckets, scripted carrier sessions, a SQLite file store."""

from __future__ import annotations

import concurrent.futures
import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine

from carriers import HealthPolicy, MemoryHealthStore, SubmitPart
from messaging import (
    CarrierError,
    CarrierRemoved,
    LeasePolicy,
    PermanentCarrierError,
    Throttled,
    Unbound,
)
from ratelimit import Grant, MemorySenderLeases, MemoryTokenBuckets, Pacing, SenderLeases, Tenure
from routing import CarrierHealth, Circuit, RoutingTable, Snapshot, load_routes
from store import (
    MessageStore,
    NewMessage,
    SendLease,
    SendOutcome,
    StatusChange,
    make_engine,
    new_id,
    upgrade,
)
from workers import Sender
from workers.pacer import (
    GAP_MARGIN,
    TENURE_POLL,
    TENURE_TTL,
    bucket_shape,
    handover_guard,
    priority_hole,
)
from workers.sending import PRIORITY_TAKE, OneSender, Submitter, bucket_key, pace_key
from workers.uncommitted import UncommittedIds

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
ROUTES = """
[carriers.cheap]
host = "127.0.0.1"
port = 1
system_id = "cheap"
password = "pw"
mps = 1000

[carriers.dear]
host = "127.0.0.1"
port = 2
system_id = "dear"
password = "pw"
mps = 1000

[prices.cheap]
currency = "EUR"
"+44" = 0.01

[prices.dear]
currency = "EUR"
"+44" = 0.05

[[routes]]
name = "default"
strategy = "least_cost"
carriers = ["cheap", "dear"]
spill = false  # most tests here follow one carrier's lane; the spill tests below drop it
"""


class ScriptedSession:
    """Answers each submit with the next scripted outcome: an id, or an error to raise."""

    def __init__(self, name: str, outcomes: list[str | CarrierError]) -> None:
        self.name = name
        self.outcomes = outcomes
        self.submitted: list[SubmitPart] = []

    written_at = float("inf")  # no wire: the sender's own clock after the submit stands

    def submit(
        self, part: SubmitPart, not_before: float | None = None, not_after: float | None = None
    ) -> concurrent.futures.Future[str]:
        self.submitted.append(part)
        future: concurrent.futures.Future[str] = concurrent.futures.Future()
        outcome = self.outcomes.pop(0) if self.outcomes else f"{self.name}-{len(self.submitted)}"
        if isinstance(outcome, CarrierError):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
        return future


class StampingSession(ScriptedSession):
    """A scripted session that reports when each part is written: at `not_before` when the
    sender gives one (the real session waits the last stretch itself), else at `clock[0]`."""

    def __init__(
        self,
        name: str,
        outcomes: list[str | CarrierError],
        clock: list[float],
        written: Callable[[float], None],
    ) -> None:
        super().__init__(name, outcomes)
        self._clock = clock
        self._written = written

    def submit(
        self, part: SubmitPart, not_before: float | None = None, not_after: float | None = None
    ) -> concurrent.futures.Future[str]:
        now = self._clock[0]
        self._written(now if not_before is None else max(now, not_before))
        return super().submit(part)


@pytest.fixture
def table(tmp_path: Path) -> RoutingTable:
    path = tmp_path / "routes.toml"
    path.write_text(ROUTES)
    return load_routes(path)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MessageStore]:
    url = f"sqlite:///{tmp_path / 'unit.db'}"
    upgrade(url)
    engine = make_engine(url)
    yield MessageStore(engine)
    engine.dispose()


def _queue(store: MessageStore, body: str = "hello", message_class: str = "marketing") -> str:
    account = store.ensure_account("acme", NOW)
    message_id = new_id()
    store.insert_messages(
        [
            NewMessage(
                message_id,
                account,
                "+447400123456",
                "Acme",
                body,
                message_class,
                "gsm7",
                1,
                None,
                NOW,
                NOW + timedelta(hours=1),
            )
        ]
    )
    return message_id


def _sender(
    store: MessageStore,
    table: RoutingTable,
    sessions: dict[str, ScriptedSession],
    account_names: dict[str, str] | None = None,
) -> Sender:
    clock = [0.0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    return Sender(
        store,
        lambda: table,
        MemoryTokenBuckets(lambda: clock[0]),
        sessions.__getitem__,
        lambda: NOW,
        sleep,
        monotonic=lambda: clock[0],  # the buckets' clock: a fresh ClockOffset, not the process's
        account_names=account_names,
    )


def test_cheapest_carrier_takes_the_message(store: MessageStore, table: RoutingTable) -> None:
    sessions = {"cheap": ScriptedSession("cheap", ["00A1"]), "dear": ScriptedSession("dear", [])}
    message_id = _queue(store)
    stats, _ = _sender(store, table, sessions).send([message_id])
    view = store.get_message(store.ensure_account("acme", NOW), message_id)
    assert stats.sent == 1 and view is not None and view.status == "sent"
    assert [(a.carrier, a.carrier_message_ids) for a in view.attempts] == [("cheap", ("a1",))]
    assert sessions["dear"].submitted == []


def test_throttled_submit_is_tried_again_on_the_same_carrier_at_a_cut_pace(
    store: MessageStore, table: RoutingTable
) -> None:
    sessions = {
        "cheap": ScriptedSession("cheap", [Throttled(0x58), "76"]),
        "dear": ScriptedSession("dear", []),
    }
    message_id = _queue(store)
    sender = _sender(store, table, sessions)
    stats, _ = sender.send([message_id])
    view = store.get_message(store.ensure_account("acme", NOW), message_id)
    assert view is not None and stats.failovers == 0 and stats.throttled == 1
    assert [(a.carrier, a.submit_status, a.error_code) for a in view.attempts] == [
        ("cheap", "error", "throttled:0x58"),
        ("cheap", "accepted", None),
    ]
    assert view.status == "sent" and sessions["dear"].submitted == []
    # The cut is cluster-wide state in the buckets, read by every lane of every worker.
    assert sender.buckets.pace("carrier:cheap:pace", sender.pacing) < 1.0


def test_a_carrier_throttling_every_try_fails_over_after_the_retries(
    store: MessageStore, table: RoutingTable
) -> None:
    sessions = {
        "cheap": ScriptedSession("cheap", [Throttled(0x58)] * 4),
        "dear": ScriptedSession("dear", ["77"]),
    }
    message_id = _queue(store)
    stats, _ = _sender(store, table, sessions).send([message_id])
    view = store.get_message(store.ensure_account("acme", NOW), message_id)
    assert view is not None and stats.throttled == 4 and stats.failovers == 1
    assert [a.carrier for a in view.attempts] == ["cheap"] * 4 + ["dear"]


def test_throttled_submit_fails_over_at_once_when_the_carrier_says_so(
    store: MessageStore, tmp_path: Path
) -> None:
    path = tmp_path / "failover.toml"
    path.write_text(ROUTES.replace("port = 1\n", "port = 1\nthrottle_failover = true\n"))
    table = load_routes(path)
    assert table.carriers["cheap"].throttle_failover
    sessions = {
        "cheap": ScriptedSession("cheap", [Throttled(0x58)]),
        "dear": ScriptedSession("dear", ["77"]),
    }
    message_id = _queue(store)
    stats, _ = _sender(store, table, sessions).send([message_id])
    view = store.get_message(store.ensure_account("acme", NOW), message_id)
    assert view is not None and stats.failovers == 1
    assert [(a.carrier, a.submit_status, a.error_code) for a in view.attempts] == [
        ("cheap", "error", "throttled:0x58"),
        ("dear", "accepted", None),
    ]
    assert view.status == "sent" and view.attempts[0].cost == 0


def test_permanent_error_fails_without_trying_others(
    store: MessageStore, table: RoutingTable
) -> None:
    sessions = {
        "cheap": ScriptedSession("cheap", [PermanentCarrierError(0x0B)]),
        "dear": ScriptedSession("dear", []),
    }
    message_id = _queue(store)
    _sender(store, table, sessions).send([message_id])
    view = store.get_message(store.ensure_account("acme", NOW), message_id)
    assert view is not None and view.status == "failed" and sessions["dear"].submitted == []


def test_every_candidate_down_goes_back_to_queued_with_a_retry_time(
    store: MessageStore, table: RoutingTable
) -> None:
    sessions = {
        "cheap": ScriptedSession("cheap", [Unbound()]),
        "dear": ScriptedSession("dear", [Unbound()]),
    }
    message_id = _queue(store)
    stats, _ = _sender(store, table, sessions).send([message_id])
    assert stats.retry_later == 1
    assert store.status_counts() == {"queued": 1}
    hour_ago = NOW - timedelta(hours=1)
    assert store.stranded(NOW + timedelta(seconds=4), hour_ago, hour_ago) == {}
    assert store.stranded(NOW + timedelta(seconds=11), hour_ago, hour_ago) == {"marketing": 1}


def test_long_message_is_submitted_as_concatenated_parts(
    store: MessageStore, table: RoutingTable
) -> None:
    sessions = {"cheap": ScriptedSession("cheap", ["1", "2"]), "dear": ScriptedSession("dear", [])}
    message_id = _queue(store, "x" * 200)
    _sender(store, table, sessions).send([message_id])
    parts = sessions["cheap"].submitted
    assert len(parts) == 2 and all(p.esm_class & 0x40 for p in parts)
    view = store.get_message(store.ensure_account("acme", NOW), message_id)
    assert view is not None and view.attempts[0].carrier_message_ids == ("1", "2")


def test_marketing_uses_what_otp_leaves_and_leaves_it_a_floor(
    store: MessageStore, table: RoutingTable
) -> None:
    clock = [0.0]
    sender = Sender(
        store,
        lambda: table,
        MemoryTokenBuckets(lambda: clock[0]),
        dict[str, Submitter]().__getitem__,
        lambda: NOW,
        print,
        monotonic=lambda: clock[0],
    )
    # mps 1000: the carrier bucket holds 10 PDUs (1%); marketing leaves 20% of it (2) to OTP.
    marketing, _ = sender.take_tokens("cheap", 1000, 0.2, 50)
    otp, _ = sender.take_tokens("cheap", 1000, 0.0, 50)
    assert (marketing, otp) == (8, 2)
    clock[0] += 0.0021  # 2.05 tokens refill at 980.1/s: all below the floor
    assert sender.take_tokens("cheap", 1000, 0.2, 50)[0] == 0
    clock[0] += 1.0  # OTP idle: marketing takes the whole rate, down to the floor
    marketing, rate = sender.take_tokens("cheap", 1000, 0.2, 50)
    assert (marketing, rate) == (8, bucket_shape(1000)[0])
    assert sender.take_tokens("cheap", 1000, 0.0, 50)[0] == 2  # OTP never waits for it


class CountingBuckets(MemoryTokenBuckets):
    """Memory buckets that count the takes asked of each key."""

    def __init__(self, clock: Callable[[], float]) -> None:
        super().__init__(clock)
        self._clock = clock
        self.asked: Counter[str] = Counter()
        self.granted_at: list[float] = []

    def take(
        self, key: str, rate: float, capacity: float, tokens: int = 1, partial: bool = False
    ) -> Grant:
        self.asked[key] += 1
        return super().take(key, rate, capacity, tokens, partial)

    def take_lane_timed(
        self,
        key: str,
        pace_key: str,
        rate: float,
        capacity: float,
        floor: float,
        pacing: Pacing,
        tokens: int,
        ahead: float = 0.0,
        yield_s: float = 0.0,
        whole: bool = False,
    ) -> tuple[Grant, float, int, float] | None:
        self.asked[key] += 1
        self.granted_at.append(self._clock())
        return super().take_lane_timed(
            key, pace_key, rate, capacity, floor, pacing, tokens, ahead, yield_s, whole
        )


def test_a_short_marketing_lane_asks_again_once_half_its_bucket_refilled(
    store: MessageStore, table: RoutingTable
) -> None:
    """Under a backlog, each ask of the bucket (a Redis round trip) should bring several
    tokens, not one or two; pacing stays at the bucket's rate."""
    clock = [0.0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    buckets = CountingBuckets(lambda: clock[0])
    sender = Sender(
        store,
        lambda: table,
        buckets,
        {"cheap": ScriptedSession("cheap", []), "dear": ScriptedSession("dear", [])}.__getitem__,
        lambda: NOW,
        sleep,
        monotonic=lambda: clock[0],
    )
    ids = [_queue(store) for _ in range(200)]
    stats, _ = sender.send(ids)
    assert stats.sent == 200
    # mps 1000, 20% of the bucket left to OTP: marketing takes all of bucket_shape(1000)/s
    # above a floor of 2 (work-conserving: no OTP is sending).
    (rate, capacity), floor = bucket_shape(1000), 2
    assert clock[0] <= (200 - capacity + floor) / rate + 0.02  # as fast as the bucket allows
    asks = buckets.asked["carrier:cheap"]
    target = (capacity - floor) // 2  # half of what the bucket holds above the floor
    assert asks <= (200 - (capacity - floor)) / target + 3  # about 4 tokens an ask
    # Before: every pass of the loop asked, about one ask per message.


def test_a_refused_otp_asks_the_bucket_again_when_its_token_comes_not_a_token_later(
    store: MessageStore, tmp_path: Path
) -> None:
    """M = 50: the bucket holds one token and marketing (another process) books 1.24 ahead.
    An OTP refused at a level of -1.2 asked again every 1/rate (at -0.2 and 0.8, refused
    each time, each refusal extending marketing's yield while the bucket then sat full): it
    was sent at the fourth ask, 60 ms in. It asks again when the bucket has its token."""
    clock = [0.0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    buckets = CountingBuckets(lambda: clock[0])
    cheap = ScriptedSession("cheap", [])
    sender = Sender(
        store,
        lambda: _spill_table(tmp_path, cheap_mps=50),
        buckets,
        {"cheap": cheap, "dear": ScriptedSession("dear", [])}.__getitem__,
        lambda: NOW,
        sleep,
        monotonic=lambda: clock[0],
    )
    rate, capacity = bucket_shape(50)
    booked = buckets.take_lane(  # marketing, elsewhere: 2 tokens, the second 1.2 ahead
        bucket_key("cheap"), pace_key("cheap"), rate, capacity, 0.0, Pacing(), 2, ahead=1.2
    )
    assert booked[0].granted == 2
    otp = _queue(store, "Your code is 123456", "otp")
    stats, _ = sender.send([otp])
    assert stats.sent == 1 and len(cheap.submitted) == 1
    assert buckets.asked["carrier:cheap"] == 1 + 2  # marketing's, then refused and served
    assert buckets.granted_at[-1] == pytest.approx((1 + 1.0) / rate, abs=1e-4)


def test_priority_messages_behind_an_empty_bucket_each_go_as_their_token_comes(
    store: MessageStore, tmp_path: Path
) -> None:
    """A refused priority lane waits for the first waiting message's tokens, not for the
    whole take it asked (three tokens: all three would go at 3/rate)."""
    sender, sent_at = _spill_sender(
        store,
        _spill_table(tmp_path),
        {"cheap": ScriptedSession("cheap", []), "dear": ScriptedSession("dear", [])},
    )
    rate, capacity = bucket_shape(1000)
    emptied = sender.buckets.take_lane(
        bucket_key("cheap"), pace_key("cheap"), rate, capacity, 0.0, Pacing(), int(capacity)
    )
    assert emptied[0].granted == capacity
    ids = [_queue(store, f"code {i}", "transactional") for i in range(3)]
    stats, _ = sender.send(ids)
    assert stats.sent == 3 and sent_at["dear"] == []
    assert sent_at["cheap"] == pytest.approx([1 / rate, 2 / rate, 3 / rate], abs=2e-4)


def _stamping_sender(store: MessageStore, table: RoutingTable) -> tuple[Sender, list[float]]:
    """A Sender on a fake clock, and the clock reading of every submit it makes (lanes tenured
    only while a pace is cut, as by default)."""
    sender, sent_at, _ = _tenured_sender(store, table, MemorySenderLeases, one_sender="cut")
    return sender, sent_at


def test_marketing_submits_are_paced_evenly_not_in_bursts(
    store: MessageStore, table: RoutingTable
) -> None:
    """The lane spends each grant at the rate it was granted, one slot per PDU; a late slot
    is caught up half an interval after the one before, never two PDUs at once."""
    sender, sent_at = _stamping_sender(store, table)
    stats, _ = sender.send([_queue(store) for _ in range(100)])
    assert stats.sent == 100
    gaps = [b - a for a, b in itertools.pairwise(sent_at)]
    rate, capacity = bucket_shape(1000)
    assert min(gaps) >= 1 / rate / 2 - 1e-9
    assert len(sent_at) - capacity <= (sent_at[-1] - sent_at[0]) * rate + 1  # at the bucket's rate


def test_a_carrier_that_throttled_gets_no_two_submits_closer_than_its_interval(
    store: MessageStore, table: RoutingTable
) -> None:
    """A carrier with burst 1 throttles two PDUs closer than 1/M; once one throttled (its
    pace is cut), catch-ups keep clear of its interval at that pace."""
    sender, sent_at = _stamping_sender(store, table)
    factor = sender.buckets.cut_pace("carrier:cheap:pace", sender.pacing)
    assert factor is not None
    sender.send([_queue(store) for _ in range(50)])
    gaps = [b - a for a, b in itertools.pairwise(sent_at)]
    assert min(gaps) >= 1 / (1000 * factor) - 1e-9


def test_carrier_whose_circuit_opened_is_skipped_by_the_next_batch(
    store: MessageStore, table: RoutingTable
) -> None:
    health = MemoryHealthStore(clock=lambda: 1000.0)

    def snapshot() -> Snapshot:
        views = health.views(table.carriers)
        return Snapshot.of(
            {n: CarrierHealth(v.score, Circuit(v.circuit.value)) for n, v in views.items()}
        )

    down = [Unbound() for _ in range(5)]
    sessions = {"cheap": ScriptedSession("cheap", list(down)), "dear": ScriptedSession("dear", [])}
    clock = [0.0]
    sender = Sender(
        store,
        lambda: table,
        MemoryTokenBuckets(lambda: clock[0]),
        sessions.__getitem__,
        lambda: NOW,
        lambda s: clock.__setitem__(0, clock[0] + s),
        monotonic=lambda: clock[0],
        health=health,
        snapshot=snapshot,
    )
    first = [_queue(store) for _ in range(5)]
    sender.send(first)  # five lost binds on the cheap carrier, each failed over to dear
    assert len(sessions["cheap"].submitted) == 5
    second = [_queue(store) for _ in range(3)]
    sender.send(second)
    assert len(sessions["cheap"].submitted) == 5  # circuit open: not even tried
    views = [store.get_message(store.ensure_account("acme", NOW), m) for m in second]
    assert all(v is not None and [a.carrier for a in v.attempts] == ["dear"] for v in views)


def test_resend_tries_an_untried_carrier_first(store: MessageStore, table: RoutingTable) -> None:
    sessions = {"cheap": ScriptedSession("cheap", ["c1"]), "dear": ScriptedSession("dear", ["d1"])}
    message_id = _queue(store)
    sender = _sender(store, table, sessions)
    sender.send([message_id])
    with store.engine.begin() as conn:  # as the receipt path does for an undelivered OTP
        conn.exec_driver_sql("update messages set status = 'queued'")
    sender.send([message_id])
    view = store.get_message(store.ensure_account("acme", NOW), message_id)
    assert view is not None
    assert [a.carrier for a in view.attempts] == ["cheap", "dear"]


def test_destination_blocked_for_the_account_is_rejected_unsent(
    store: MessageStore, tmp_path: Path
) -> None:
    path = tmp_path / "blocked.toml"
    path.write_text(ROUTES + '\n[accounts.acme]\nblocked_prefixes = ["+4474"]\n')
    table = load_routes(path)
    sessions = {"cheap": ScriptedSession("cheap", []), "dear": ScriptedSession("dear", [])}
    message_id = _queue(store)
    _sender(store, table, sessions).send([message_id])
    view = store.get_message(store.ensure_account("acme", NOW), message_id)
    assert view is not None and (view.status, view.error_code) == ("rejected", "account_blocked")
    assert sessions["cheap"].submitted == [] and sessions["dear"].submitted == []


class CountingStore(MessageStore):
    """The file store, counting account-name lookups."""

    lookups = 0

    def account_names(self, account_ids: Iterable[str]) -> dict[str, str]:
        ids = set(account_ids)
        if ids:
            self.lookups += 1
        return super().account_names(ids)


def test_senders_of_one_process_look_an_account_up_once(
    store: MessageStore, table: RoutingTable
) -> None:
    counting = CountingStore(store.engine)
    names: dict[str, str] = {}
    sessions = {"cheap": ScriptedSession("cheap", []), "dear": ScriptedSession("dear", [])}
    for _ in range(3):  # one Sender per batch, as each Celery task builds one
        sender = _sender(counting, table, sessions, account_names=names)  # as WorkerContext does
        assert sender.send([_queue(store)])[0].sent == 1
    assert counting.lookups == 1 and list(names.values()) == ["acme"]


class GatedStore(MessageStore):
    """The file store, whose first write of outcomes waits until the test opens the gate."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.gate = threading.Event()
        self.writes = 0

    def record_outcomes(
        self, outcomes: Sequence[SendOutcome], now: datetime, lease_owner: str | None = None
    ) -> list[StatusChange]:
        self.writes += 1
        if self.writes == 1:
            assert self.gate.wait(10), "the test never opened the gate"
        return super().record_outcomes(outcomes, now, lease_owner)


def test_a_slow_write_of_outcomes_does_not_pause_submitting(
    store: MessageStore, table: RoutingTable
) -> None:
    """Writes run on a recorder thread: while the first group is still being written, the send
    loop keeps taking tokens and submitting (a bucket holds ~20 ms of tokens; a pause loses
    them)."""
    gated = GatedStore(store.engine)
    ids = [_queue(store) for _ in range(250)]  # more than RECORD_EVERY: several groups
    sessions = {"cheap": ScriptedSession("cheap", []), "dear": ScriptedSession("dear", [])}
    sender = _sender(gated, table, sessions)
    sender.batch_max = 250
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        running = pool.submit(sender.send, ids)
        deadline = time.monotonic() + 10
        while len(sessions["cheap"].submitted) < 250 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(sessions["cheap"].submitted) == 250  # all sent while the first write waits
        assert not running.done()
        gated.gate.set()
        stats, _ = running.result(timeout=10)
    assert stats.sent == 250 and store.status_counts() == {"sent": 250}


def test_a_failed_write_fails_the_batch(store: MessageStore, table: RoutingTable) -> None:
    class BrokenStore(MessageStore):
        def record_outcomes(
            self, outcomes: Sequence[SendOutcome], now: datetime, lease_owner: str | None = None
        ) -> list[StatusChange]:
            raise OSError("database went away")

    sessions = {"cheap": ScriptedSession("cheap", []), "dear": ScriptedSession("dear", [])}
    sender = _sender(BrokenStore(store.engine), table, sessions)
    sender.uncommitted = uncommitted = UncommittedIds()
    with pytest.raises(OSError, match="database went away"):
        sender.send([_queue(store)])
    assert store.status_counts() == {"sending": 1}  # left for the sweeper to re-send
    assert len(uncommitted) == 0  # its receipt is not held for a write that will not come


def test_a_message_taken_back_from_a_dead_batch_is_resent_flagged_and_charged_once(
    store: MessageStore, table: RoutingTable
) -> None:
    """Given a batch whose worker died (its lease ran out), when the next batch sends the
    message, then its one charged attempt is flagged `resubmitted_after_crash`."""
    message_id = _queue(store)
    store.claim([message_id], NOW, lease=SendLease("dead:1:aa", NOW))
    assert store.take_back(NOW + timedelta(seconds=5), NOW - timedelta(hours=1), LeasePolicy()) == 1
    sessions = {"cheap": ScriptedSession("cheap", ["0B"]), "dear": ScriptedSession("dear", [])}
    stats, _ = _sender(store, table, sessions).send([message_id])
    view = store.get_message(store.ensure_account("acme", NOW), message_id)
    assert stats.sent == 1 and view is not None and view.status == "sent"
    assert [(a.carrier, a.resubmitted_after_crash) for a in view.attempts] == [("cheap", True)]


def test_a_queued_marketing_message_whose_recipient_opted_out_is_rejected_unsent(
    store: MessageStore, table: RoutingTable
) -> None:
    message_id = _queue(store)
    account = store.ensure_account("acme", NOW)
    store.add_opt_out(account, "+447400123456", NOW)  # STOP arrived after it was queued
    cheap, dear = ScriptedSession("cheap", []), ScriptedSession("dear", [])

    _sender(store, table, {"cheap": cheap, "dear": dear}).send([message_id])

    view = store.get_message(account, message_id)
    assert view is not None and (view.status, view.error_code) == (
        "rejected",
        "recipient_opted_out",
    )
    assert cheap.submitted == dear.submitted == []


def test_a_message_whose_carriers_were_all_removed_is_routed_again_at_once(
    store: MessageStore, table: RoutingTable
) -> None:
    def removed(name: str) -> ScriptedSession:
        raise CarrierRemoved(detail=f"{name}: not a configured carrier")

    message_id = _queue(store)
    sender = Sender(
        store, lambda: table, MemoryTokenBuckets(time.monotonic), removed, lambda: NOW, time.sleep
    )
    stats, _ = sender.send([message_id])
    assert (stats.retry_later, stats.failed) == (1, 0)
    hour_ago = NOW - timedelta(hours=1)
    assert store.stranded(NOW, hour_ago, hour_ago) == {"marketing": 1}  # due now, not in 5 s
    view = store.get_message(store.ensure_account("acme", NOW), message_id)
    assert view is not None
    assert [a.error_code for a in view.attempts] == ["carrier_removed", "carrier_removed"]


def test_a_removed_carrier_fails_over_to_the_next_candidate(
    store: MessageStore, table: RoutingTable
) -> None:
    dear = ScriptedSession("dear", [])

    def sessions(name: str) -> ScriptedSession:
        if name == "cheap":
            raise CarrierRemoved(detail="cheap: not a configured carrier")
        return dear

    message_id = _queue(store)
    sender = Sender(
        store, lambda: table, MemoryTokenBuckets(time.monotonic), sessions, lambda: NOW, time.sleep
    )
    stats, _ = sender.send([message_id])
    assert (stats.sent, stats.failovers) == (1, 1)
    assert len(dear.submitted) == 1


def test_a_half_open_carrier_takes_only_its_probes_and_the_rest_go_elsewhere(
    store: MessageStore, table: RoutingTable
) -> None:
    health = MemoryHealthStore(HealthPolicy(half_open_probes=1), clock=lambda: 1000.0)
    half_open = Snapshot.of({"cheap": CarrierHealth(1.0, Circuit.HALF_OPEN)})
    sessions = {"cheap": ScriptedSession("cheap", []), "dear": ScriptedSession("dear", [])}
    sender = Sender(
        store,
        lambda: table,
        MemoryTokenBuckets(time.monotonic),
        sessions.__getitem__,
        lambda: NOW,
        time.sleep,
        health=health,
        snapshot=lambda: half_open,
    )
    stats, _ = sender.send([_queue(store) for _ in range(3)])
    # half-open is routed last: dear first; make dear refuse so every message reaches cheap
    assert stats.sent == 3
    assert len(sessions["dear"].submitted) == 3 and sessions["cheap"].submitted == []

    sessions["dear"].outcomes = [Unbound() for _ in range(3)]
    stats, _ = sender.send([_queue(store) for _ in range(3)])
    assert (stats.sent, stats.retry_later) == (1, 2)  # one probe, two wait for the next window
    assert len(sessions["cheap"].submitted) == 1


def test_failover_on_sends_a_permanent_code_of_that_carrier_to_the_next_candidate(
    store: MessageStore, tmp_path: Path
) -> None:
    path = tmp_path / "override.toml"
    path.write_text(
        ROUTES.replace(
            'password = "pw"\n', 'password = "pw"\nfailover_on = ["ESME_RINVDSTADR"]\n', 1
        )
    )
    table = load_routes(path)
    sessions = {
        "cheap": ScriptedSession("cheap", [PermanentCarrierError(0x0B, "invalid destination")]),
        "dear": ScriptedSession("dear", []),
    }
    stats, _ = _sender(store, table, sessions).send([_queue(store)])
    assert (stats.sent, stats.failed, stats.failovers) == (1, 0, 1)
    assert len(sessions["dear"].submitted) == 1


def test_carrier_ids_are_uncommitted_from_their_submit_resp_until_their_write(
    store: MessageStore, table: RoutingTable
) -> None:
    """The receipt forwarder holds a receipt while its id is here: the id must be known from
    the submit_sm_resp on, and forgotten once the recorder has written its message."""
    gated = GatedStore(store.engine)
    ids = [_queue(store) for _ in range(3)]
    sessions = {"cheap": ScriptedSession("cheap", []), "dear": ScriptedSession("dear", [])}
    sender = _sender(gated, table, sessions)
    sender.uncommitted = uncommitted = UncommittedIds()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        running = pool.submit(sender.send, ids)
        deadline = time.monotonic() + 10
        while len(uncommitted) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert all(uncommitted.holds("cheap", (f"cheap-{n}",)) for n in (1, 2, 3))
        gated.gate.set()  # the write commits
        stats, _ = running.result(timeout=10)
    assert stats.sent == 3 and len(uncommitted) == 0


def _tenured_sender(
    store: MessageStore,
    table: RoutingTable,
    senders: Callable[[Callable[[], float]], SenderLeases],
    on_sleep: Callable[[float], None] = lambda _: None,
    one_sender: OneSender = "always",
    routes: Callable[[], RoutingTable] | None = None,
) -> tuple[Sender, list[float], SenderLeases]:
    """A stamping Sender whose marketing lanes need a tenure of `senders(clock)`;
    `on_sleep(now)` runs at each of its sleeps (another process acting meanwhile); `routes`
    instead of `table` when the test reloads it."""
    clock = [0.0]
    sent_at: list[float] = []

    def sleep(seconds: float) -> None:
        clock[0] += seconds
        on_sleep(clock[0])

    def stamping(name: str) -> StampingSession:
        return StampingSession(name, [], clock, sent_at.append)

    leases = senders(lambda: clock[0])
    sender = Sender(
        store,
        routes or (lambda: table),
        MemoryTokenBuckets(lambda: clock[0]),
        {"cheap": stamping("cheap"), "dear": stamping("dear")}.__getitem__,
        lambda: NOW,
        sleep,
        monotonic=lambda: clock[0],
        senders=leases,
        one_sender=one_sender,
    )
    return sender, sent_at, leases


def test_the_holder_of_a_lane_keeps_every_two_submits_over_1_over_m_apart(
    store: MessageStore, table: RoutingTable
) -> None:
    sender, sent_at, _ = _tenured_sender(store, table, MemorySenderLeases)
    stats, _ = sender.send([_queue(store) for _ in range(60)])
    assert stats.sent == 60
    gaps = [b - a for a, b in itertools.pairwise(sent_at)]
    assert min(gaps) >= 1 / 1000 + GAP_MARGIN - 1e-9  # a late slot is never caught up closer


ONE_BURST_1_CARRIER = ROUTES.split("[carriers.dear]")[0].replace("mps = 1000", "mps = 200") + (
    '[prices.cheap]\ncurrency = "EUR"\n"+44" = 0.01\n\n'
    '[[routes]]\nname = "default"\nstrategy = "least_cost"\ncarriers = ["cheap"]\n'
)


@pytest.mark.parametrize("otp_class", ["otp", "transactional"])
def test_an_otp_on_a_one_sender_lane_takes_the_next_slot_with_a_hole_on_each_side(
    store: MessageStore, tmp_path: Path, otp_class: str
) -> None:
    """Process A holds the marketing lane's tenure and drains a backlog; 30 ms in, process B
    sends an OTP on the same carrier (shared bucket and tenures). The OTP does not wait for
    the tenure: it goes within a few slots, `hole + 1` slots from the marketing PDUs on either
    side, and no two PDUs of the two processes are closer than the carrier's 1/M."""
    path = tmp_path / "burst1.toml"
    path.write_text(ONE_BURST_1_CARRIER.replace("mps = 200", 'mps = 200\npacing = "burst1"'))
    table = load_routes(path)
    clock = [0.0]
    sent: list[tuple[str, float]] = []  # (process, write time)
    buckets = MemoryTokenBuckets(lambda: clock[0])
    leases = MemorySenderLeases(lambda: clock[0])
    otp_asked: list[float] = []

    def stamping(process: str) -> Callable[[str], Submitter]:
        def written(at: float) -> None:
            sent.append((process, at))

        return {"cheap": StampingSession("cheap", [], clock, written)}.__getitem__

    def make(process: str, on_sleep: Callable[[], None]) -> Sender:
        def sleep(seconds: float) -> None:
            clock[0] += seconds
            on_sleep()

        return Sender(
            store,
            lambda: table,
            buckets,
            stamping(process),
            lambda: NOW,
            sleep,
            monotonic=lambda: clock[0],
            senders=leases,
        )

    otp = _queue(store, "code 1234", otp_class)

    def process_b_acts() -> None:
        if clock[0] >= 0.03 and not otp_asked:
            otp_asked.append(clock[0])
            stats, _ = process_b.send([otp])
            assert stats.sent == 1

    process_b = make("B", lambda: None)
    process_a = make("A", process_b_acts)
    stats, _ = process_a.send([_queue(store) for _ in range(30)])
    assert stats.sent == 30
    times = sorted(at for _, at in sent)
    assert min(b - a for a, b in itertools.pairwise(times)) >= 1 / 200 - 1e-9
    otp_at = next(at for process, at in sent if process == "B")
    rate, _ = bucket_shape(200)
    assert otp_at - otp_asked[0] <= 0.005 + (priority_hole(rate) + 2) / rate  # not behind A
    before = max(at for at in times if at < otp_at)
    after = min(at for at in times if at > otp_at)
    hole = (priority_hole(rate) + 1) / rate
    assert otp_at - before >= hole - 1e-6 and after - otp_at >= hole - 1e-6


def test_a_lane_another_process_holds_waits_its_hand_over_and_the_guard(
    store: MessageStore, table: RoutingTable
) -> None:
    """Another process holds the lane until 0.1 s and gives it back then: nothing is sent
    before, the first submit waits the guard after it (no throttle: a wait)."""
    guard = handover_guard(1000)
    handed_over: list[float] = []

    def other_process(now: float) -> None:
        if now >= 0.1 and not handed_over:
            leases.release("cheap", "other", guard)
            handed_over.append(now)

    sender, sent_at, leases = _tenured_sender(store, table, MemorySenderLeases, other_process)
    assert leases.hold("cheap", "other", TENURE_TTL, guard) is not None
    stats, _ = sender.send([_queue(store) for _ in range(10)])
    assert stats.sent == 10
    assert handed_over[0] + guard <= sent_at[0] <= handed_over[0] + guard + TENURE_POLL + 0.002
    # The batch gave the lane back when done: the next process may start a guard later.
    after = leases.hold("cheap", "next", TENURE_TTL, guard)
    assert after is not None and after.held
    assert after.start_us / 1e6 == pytest.approx(sent_at[-1] + guard, abs=1e-3)


def test_a_lapsed_tenure_is_taken_over_a_guard_after_its_end(
    store: MessageStore, table: RoutingTable
) -> None:
    sender, sent_at, leases = _tenured_sender(store, table, MemorySenderLeases)
    guard = handover_guard(1000)
    held = leases.hold("cheap", "crashed", TENURE_TTL, guard)  # and never renewed
    assert held is not None and held.held
    sender.send([_queue(store) for _ in range(5)])
    assert sent_at[0] >= held.until_us / 1e6 + guard - 1e-9


class DownLeases(MemorySenderLeases):
    """The store is down until `up_at`: no tenure (fails closed)."""

    up_at = 0.3

    def hold(self, key: str, holder: str, ttl: float, guard: float) -> Tenure | None:
        return None if self._clock() < self.up_at else super().hold(key, holder, ttl, guard)


def test_no_tenure_while_the_store_is_down_means_no_submit(
    store: MessageStore, table: RoutingTable
) -> None:
    sender, sent_at, _ = _tenured_sender(store, table, DownLeases)
    stats, _ = sender.send([_queue(store) for _ in range(5)])
    assert stats.sent == 5 and sent_at[0] >= DownLeases.up_at


def test_by_default_a_lane_takes_its_tenure_only_while_its_carriers_pace_is_cut(
    store: MessageStore, table: RoutingTable
) -> None:
    """Uncut, another process's tenure does not hold the lane back (strict carriers keep two
    senders); once a take shows the pace cut (the carrier throttled), it does."""
    sender, sent_at, leases = _tenured_sender(store, table, MemorySenderLeases, one_sender="cut")
    guard = handover_guard(1000)
    assert leases.hold("cheap", "other", TENURE_TTL, guard) is not None
    sender.send([_queue(store) for _ in range(3)])
    assert len(sent_at) == 3 and sent_at[-1] < 0.01  # beside the other holder, at once
    assert sender.buckets.cut_pace("carrier:cheap:pace", sender.pacing) is not None
    other = leases.hold("cheap", "other", TENURE_TTL, guard)  # renewed, never again after
    assert other is not None and other.held
    sender.send([_queue(store) for _ in range(3)])
    # The take that showed the cut went at once; the next waited out the other's tenure.
    assert sent_at[4] >= other.until_us / 1e6 + guard - 1e-9


def test_every_batch_of_a_process_writes_on_the_one_recorder_thread(
    store: MessageStore, table: RoutingTable
) -> None:
    """A thread per batch cost ~100 µs to start and join, and a moderate rate makes batches of
    one: the process keeps one recorder thread, which still writes every batch before it ends."""
    writers: list[threading.Thread] = []  # the objects, kept: an ident may be reused

    class ThreadNotingStore(MessageStore):
        def record_outcomes(
            self, outcomes: Sequence[SendOutcome], now: datetime, lease_owner: str | None = None
        ) -> list[StatusChange]:
            writers.append(threading.current_thread())
            return super().record_outcomes(outcomes, now, lease_owner)

    sessions = {"cheap": ScriptedSession("cheap", []), "dear": ScriptedSession("dear", [])}
    sender = _sender(ThreadNotingStore(store.engine), table, sessions)
    for _ in range(3):
        stats, _ = sender.send([_queue(store)])
        assert stats.sent == 1 and store.status_counts().get("sending", 0) == 0  # written
    assert len(writers) == 3 and writers[0] is writers[1] is writers[2]
    assert writers[0] is not threading.current_thread()


def test_a_carriers_routes_file_pacing_chooses_its_tenure_and_a_reload_changes_it(
    store: MessageStore, tmp_path: Path
) -> None:
    """`pacing = "burst1"`: one sender from the first submit, whatever `one_sender` says;
    reloaded as `"window"`: two senders even with `one_sender="always"`, from the next batch."""
    path = tmp_path / "paced.toml"
    tables = {}
    for pacing in ("burst1", "window"):
        path.write_text(ROUTES.replace("mps = 1000", f'mps = 1000\npacing = "{pacing}"'))
        tables[pacing] = load_routes(path)
    current = [tables["burst1"]]
    sender, sent_at, leases = _tenured_sender(
        store, current[0], MemorySenderLeases, one_sender="cut", routes=lambda: current[0]
    )
    guard = handover_guard(1000)
    other = leases.hold("cheap", "other", TENURE_TTL, guard)  # another process's, never renewed
    assert other is not None and other.held
    sender.send([_queue(store) for _ in range(3)])
    assert sent_at[0] >= other.until_us / 1e6 + guard - 1e-9  # waited for the lane
    current[0] = tables["window"]  # the reload
    sender.one_sender = "always"
    again = leases.hold("cheap", "other", TENURE_TTL, guard)
    assert again is not None and again.held
    sender.send([_queue(store) for _ in range(3)])
    assert len(sent_at) == 6 and sent_at[3] < again.until_us / 1e6  # beside the other holder


@pytest.mark.parametrize("one_sender", ["always", "cut"])
def test_each_part_of_a_multipart_message_takes_a_slot_of_its_own(
    store: MessageStore, table: RoutingTable, one_sender: OneSender
) -> None:
    """Parts are PDUs like any other: one slot each, never back to back (a burst-1 carrier
    refuses the second) — 1/M apart for a lane's one sender, the even schedule's gap else."""
    sender, sent_at, _ = _tenured_sender(store, table, MemorySenderLeases, one_sender=one_sender)
    stats, _ = sender.send([_queue(store, "x" * 400) for _ in range(10)])  # 3 parts each
    assert stats.sent == 10 and len(sent_at) == 30
    gaps = [b - a for a, b in itertools.pairwise(sent_at)]
    rate, _ = bucket_shape(1000)
    least = 1 / 1000 + GAP_MARGIN if one_sender == "always" else 1 / rate / 2
    assert min(gaps) >= least - 1e-9


# The routes above without `spill = false`: marketing spills (the default), OTP waits.
SPILL_ROUTES = ROUTES.replace("spill = false  #", "#")


def _spill_table(tmp_path: Path, cheap_mps: int = 1000) -> RoutingTable:
    path = tmp_path / "spill.toml"
    path.write_text(SPILL_ROUTES.replace("mps = 1000", f"mps = {cheap_mps}", 1))
    return load_routes(path)


def _spill_sender(
    store: MessageStore, table: RoutingTable, sessions: dict[str, ScriptedSession]
) -> tuple[Sender, dict[str, list[float]]]:
    """A Sender on a fake clock, and the clock reading of each carrier's submits."""
    clock = [0.0]
    sent_at: dict[str, list[float]] = {name: [] for name in sessions}

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    def session(name: str) -> Submitter:
        class Stamping:
            written_at = float("inf")  # no wire: the sender's own clock after the submit stands

            def submit(
                self,
                part: SubmitPart,
                not_before: float | None = None,
                not_after: float | None = None,
            ) -> concurrent.futures.Future[str]:
                sent_at[name].append(clock[0] if not_before is None else max(clock[0], not_before))
                return sessions[name].submit(part)

        return Stamping()

    sender = Sender(
        store,
        lambda: table,
        MemoryTokenBuckets(lambda: clock[0]),
        session,
        lambda: NOW,
        sleep,
        monotonic=lambda: clock[0],
    )
    return sender, sent_at


def test_marketing_the_cheap_carrier_has_no_token_for_spills_to_the_next_at_both_rates(
    store: MessageStore, tmp_path: Path
) -> None:
    """A batch larger than the cheap carrier's rate goes out at both carriers' rates: each
    message to the cheapest carrier with a token at that instant, each carrier still paced at
    its own bucket's rate (the spill takes the dear carrier's token)."""
    table = _spill_table(tmp_path)
    sessions = {"cheap": ScriptedSession("cheap", []), "dear": ScriptedSession("dear", [])}
    sender, sent_at = _spill_sender(store, table, sessions)
    ids = [_queue(store) for _ in range(200)]
    stats, _ = sender.send(ids)
    assert stats.sent == 200 and stats.failovers == 0
    cheap, dear = len(sent_at["cheap"]), len(sent_at["dear"])
    assert cheap + dear == 200 and cheap >= dear > 50  # both busy, the cheap one first
    rate, capacity = bucket_shape(1000)
    elapsed = max(sent_at["cheap"][-1], sent_at["dear"][-1])
    assert elapsed <= (200 - 2 * capacity) / (2 * rate) + 0.02  # both lanes' rate, not one's
    for stamps in sent_at.values():
        gaps = [b - a for a, b in itertools.pairwise(stamps)]
        assert min(gaps) >= 1 / rate / 2 - 1e-9  # each lane paced as before
        assert len(stamps) - capacity <= (stamps[-1] - stamps[0]) * rate + 1
    account = store.ensure_account("acme", NOW)
    attempts = [a for m in ids if (v := store.get_message(account, m)) for a in v.attempts]
    assert len(attempts) == 200  # one try each: spilling is not failing over
    by_carrier = Counter((a.carrier, a.cost) for a in attempts)  # each at its carrier's price
    assert by_carrier == {("cheap", Decimal("0.01")): cheap, ("dear", Decimal("0.05")): dear}


@pytest.mark.parametrize(("message_class", "second"), [("marketing", "dear"), ("otp", "cheap")])
def test_only_marketing_spills_by_default(
    store: MessageStore, tmp_path: Path, message_class: str, second: str
) -> None:
    """The cheap carrier (10 MPS) has one token for two messages: the second marketing one
    goes to the dear carrier now; the second OTP waits ~0.1 s for the cheap one."""
    table = _spill_table(tmp_path, cheap_mps=10)
    sessions = {"cheap": ScriptedSession("cheap", []), "dear": ScriptedSession("dear", [])}
    sender, _ = _spill_sender(store, table, sessions)
    first, later = (
        _queue(store, message_class=message_class),
        _queue(store, message_class=message_class),
    )
    stats, _ = sender.send([first, later])
    assert stats.sent == 2
    account = store.ensure_account("acme", NOW)
    carriers = [
        [a.carrier for a in v.attempts]
        for m in (first, later)
        if (v := store.get_message(account, m))
    ]
    assert carriers == [["cheap"], [second]]


def test_a_spilled_message_the_next_carrier_fails_goes_back_to_the_cheap_one(
    store: MessageStore, tmp_path: Path
) -> None:
    """Spilling is not trying: the cheap carrier it skipped is still a candidate, and a
    failure on the carrier it spilled to fails over to it."""
    table = _spill_table(tmp_path, cheap_mps=10)
    sessions = {"cheap": ScriptedSession("cheap", []), "dear": ScriptedSession("dear", [Unbound()])}
    sender, _ = _spill_sender(store, table, sessions)
    first, later = _queue(store), _queue(store)
    stats, _ = sender.send([first, later])
    assert (stats.sent, stats.failovers) == (2, 1)
    view = store.get_message(store.ensure_account("acme", NOW), later)
    assert view is not None and view.status == "sent"
    assert [(a.carrier, a.submit_status, a.cost) for a in view.attempts] == [
        ("dear", "error", Decimal(0)),  # a refused try costs nothing
        ("cheap", "accepted", Decimal("0.01")),
    ]


class Stalled(Exception):
    """The fake clock ran past what the test allows: the sender made no progress."""


def _bounded_sender(
    store: MessageStore,
    table: RoutingTable,
    buckets: MemoryTokenBuckets,
    clock: list[float],
    sent: list[tuple[str, float]],
    deadline: float = 10.0,
) -> Sender:
    """A one-sender-capable Sender on `clock` whose sessions stamp (carrier, write time) into
    `sent`; a sleep past `deadline` raises `Stalled` (a livelock fails, never hangs)."""

    def sleep(seconds: float) -> None:
        clock[0] += seconds
        if clock[0] > deadline:
            raise Stalled(f"{len(sent)} sent by {clock[0]:.1f} s")

    def session(name: str) -> StampingSession:
        return StampingSession(name, [], clock, lambda at: sent.append((name, at)))

    return Sender(
        store,
        lambda: table,
        buckets,
        {name: session(name) for name in table.carriers}.__getitem__,
        lambda: NOW,
        sleep,
        monotonic=lambda: clock[0],
        senders=MemorySenderLeases(lambda: clock[0]),
    )


def test_priority_traffic_on_a_one_sender_lane_in_deep_debt_is_sent_once_it_is_paid(
    store: MessageStore, tmp_path: Path
) -> None:
    """Another process booked 20 tokens ahead (the bucket at -20: a pass whose slots came too
    late drops what it took). 40 transactional messages wait for the debt to be paid, then
    go: no take grants part of a group and throws it away, which kept the level below
    -capacity for good (the e2e metrics test's 90-s stall)."""
    path = tmp_path / "burst1.toml"
    path.write_text(ONE_BURST_1_CARRIER.replace("mps = 200", 'mps = 200\npacing = "burst1"'))
    clock = [0.0]
    sent: list[tuple[str, float]] = []
    buckets = MemoryTokenBuckets(lambda: clock[0])
    rate, capacity = bucket_shape(200)
    debt = 20
    booked = buckets.take_lane(
        bucket_key("cheap"), pace_key("cheap"), rate, capacity, 0, Pacing(), debt, debt + capacity
    )
    assert booked[0].granted == debt
    sender = _bounded_sender(store, load_routes(path), buckets, clock, sent)
    stats, _ = sender.send([_queue(store, "receipt 1", "transactional") for _ in range(40)])
    assert stats.sent == 40
    sent_at = [at for _, at in sent]
    # The debt, then the 40 at the bucket's rate (and the holes of each take): well under 1 s.
    assert sent_at[-1] <= (debt + capacity + 40) / rate + 0.1
    assert min(b - a for a, b in itertools.pairwise(sent_at)) >= 1 / 200 - 1e-9


def test_the_tail_of_a_priority_batch_on_a_cut_one_sender_lane_moves_to_the_next_carrier(
    store: MessageStore, tmp_path: Path
) -> None:
    """cheap (one sender, burst 1) answered throttles until its pace is at 5%: ~10 PDUs/s.
    Of 150 transactional messages, what it can take within `token_wait_max` stays; the tail
    goes to dear, as on the other lanes, instead of waiting 15 s for cheap."""
    path = tmp_path / "routes.toml"
    path.write_text(ROUTES.replace("mps = 1000", 'mps = 200\npacing = "burst1"', 1))
    clock = [0.0]
    sent: list[tuple[str, float]] = []
    buckets = MemoryTokenBuckets(lambda: clock[0])
    cut = Pacing(cut=0.05, minimum=0.05, cooldown=0.0)
    assert buckets.cut_pace(pace_key("cheap"), cut) == pytest.approx(0.05)
    sender = _bounded_sender(store, load_routes(path), buckets, clock, sent)
    stats, _ = sender.send([_queue(store, "receipt 1", "transactional") for _ in range(150)])
    assert stats.sent == 150
    by_carrier = Counter(name for name, _ in sent)
    rate, _ = bucket_shape(200)
    # cheap: its first take (at the rate it did not know was cut), then ~token_wait_max of it.
    assert by_carrier["cheap"] <= rate * PRIORITY_TAKE + 0.5 * rate * 0.05 * 2 + 2
    assert by_carrier["dear"] >= 120
    assert max(at for _, at in sent) < 3.0
