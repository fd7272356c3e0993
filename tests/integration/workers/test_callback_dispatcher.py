"""The aiohttp dispatcher against a real receiver on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from messaging import CallbackEvent, CallbackPolicy, parse_networks
from store import PendingCallback
from switchboard.stack import wait_until
from tests.callback_receiver import CallbackReceiver
from workers import verify
from workers.callback_dispatcher import HttpDispatcher
from workers.callbacks import render_event

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SECRET = "s3cret"  # noqa: S105 - a test key
LOCAL = CallbackPolicy(parse_networks("127.0.0.1/32"))  # the receivers listen on 127.0.0.1


def _pending(n: int, url: str, batch: bool = False) -> PendingCallback:
    event = CallbackEvent(f"m{n}", "sent", None, "alpha", 1, None, None, "+447911123456", T0, T0,
                          None, T0)  # fmt: skip
    return PendingCallback(n, url, batch, 1, T0, event)


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    server = CallbackReceiver().start()
    yield server
    server.stop()


@pytest.fixture
def dispatcher() -> Iterator[HttpDispatcher]:
    real = HttpDispatcher(SECRET, timeout=2.0, per_host=4, total=8, batch_wait=0.1, policy=LOCAL)
    yield real
    real.close()


def test_every_event_is_posted_signed_over_kept_alive_connections(
    receiver: CallbackReceiver, dispatcher: HttpDispatcher
) -> None:
    events = [_pending(n, receiver.url()) for n in range(40)]
    report = dispatcher.deliver(events, deadline=10)
    assert sorted(report.delivered) == list(range(40)) and report.failed == ()
    assert sorted(r.json()["id"] for r in receiver.received) == sorted(f"m{n}" for n in range(40))
    for r in receiver.received:
        assert verify(SECRET, int(r.timestamp), r.body, r.signature)
    bodies = {r.body for r in receiver.received}
    assert all(render_event(e.event) in bodies for e in events)
    assert dispatcher.stats.posts == 40


def test_no_more_than_per_host_posts_are_in_flight_to_one_host(
    dispatcher: HttpDispatcher,
) -> None:
    slow = CallbackReceiver(delay=0.1).start()
    try:
        report = dispatcher.deliver([_pending(n, slow.url()) for n in range(20)], deadline=10)
    finally:
        slow.stop()
    assert len(report.delivered) == 20
    assert slow.max_in_flight == 4  # per_host


def test_a_slow_host_does_not_hold_back_another(dispatcher: HttpDispatcher) -> None:
    slow_answer = 2.0  # seconds (a loaded host may take most of a second for the 8 fast POSTs)
    slow, fast = CallbackReceiver(delay=slow_answer).start(), CallbackReceiver().start()
    try:
        slow_events = [_pending(n, slow.url()) for n in range(16)]
        behind = threading.Thread(target=dispatcher.deliver, args=(slow_events, 10))
        behind.start()
        # the slow host's POSTs are queued first: its per_host 4 in flight, 12 waiting (a fixed
        # 50 ms sleep let a loaded host start the fast ones first, or not reach them in time)
        assert wait_until(lambda: slow.in_flight == 4, timeout=30, interval=0.005)
        started = time.monotonic()
        report = dispatcher.deliver([_pending(100 + n, fast.url()) for n in range(8)], deadline=10)
        took = time.monotonic() - started
        behind.join()
    finally:
        slow.stop()
        fast.stop()
    assert len(report.delivered) == 8
    assert took < 0.9 * slow_answer, took  # not behind an answer of the slow host


def test_batched_events_go_up_to_max_per_post_and_concurrent_calls_share_a_window(
    receiver: CallbackReceiver,
) -> None:
    # a 1-s window: the other thread's 20 must arrive within it even when a loaded host is
    # slow to start that thread (0.3 s was tight enough to split them off)
    dispatcher = HttpDispatcher(SECRET, batch_max=100, batch_wait=1.0, policy=LOCAL)
    try:
        url = receiver.url("/batch")
        first = [_pending(n, url, batch=True) for n in range(130)]
        second = [_pending(200 + n, url, batch=True) for n in range(20)]
        results: list[tuple[int, ...]] = []
        other = threading.Thread(
            target=lambda: results.append(dispatcher.deliver(second, 10).delivered)
        )
        other.start()
        results.append(dispatcher.deliver(first, 10).delivered)
        other.join()
    finally:
        dispatcher.close()
    assert sorted(n for r in results for n in r) == [*range(130), *range(200, 220)]
    sizes = sorted(len(r.json()["events"]) for r in receiver.received)
    assert sizes == [50, 100]  # 100 at once, the other 50 together within the window


def test_refused_errors_and_timeouts_are_reported_failed(dispatcher: HttpDispatcher) -> None:
    down = CallbackReceiver().start()
    down.down()
    erroring = CallbackReceiver(status=500).start()
    hanging = CallbackReceiver(delay=4.0).start()  # well past the 2-s timeout, even if late
    try:
        events = [
            _pending(1, down.url()),
            _pending(2, erroring.url()),
            _pending(3, hanging.url()),
        ]
        report = dispatcher.deliver(events, deadline=10)  # the POST timeout is 2 s
    finally:
        for server in (down, erroring, hanging):
            server.stop()
    assert report.delivered == () and sorted(report.failed) == [1, 2, 3]


class StubResolver(AbstractResolver):
    """DNS from a dict (no real lookup ever leaves the host); counts the lookups."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.lookups = 0

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.lookups += 1
        if host not in self.answers:
            raise OSError(f"stub DNS: no such name {host}")
        return [
            ResolveResult(
                hostname=host,
                host=a,
                port=port,
                family=socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for a in self.answers[host]
        ]

    async def close(self) -> None:
        pass


def _stub_dispatcher(policy: CallbackPolicy, dns: StubResolver) -> HttpDispatcher:
    return HttpDispatcher(SECRET, timeout=2.0, policy=policy, resolver=lambda: dns)


def test_a_literal_private_address_is_never_connected_to(receiver: CallbackReceiver) -> None:
    dispatcher = HttpDispatcher(SECRET, timeout=2.0)  # no allow-list
    try:
        port = receiver.port
        for url in [
            receiver.url(),
            f"http://2130706433:{port}/cb",
            f"http://0x7f.1:{port}/cb",
            f"http://[::ffff:127.0.0.1]:{port}/",
        ]:
            report = dispatcher.deliver([_pending(1, url)], deadline=5)
            assert report.failed == (1,), url
    finally:
        dispatcher.close()
    assert receiver.hits == 0


def test_a_name_rebound_to_a_private_address_is_refused_at_delivery(
    receiver: CallbackReceiver,
) -> None:
    """The API saw a public address; by delivery time the name points at 127.0.0.1."""
    dns = StubResolver({"hooks.example.com": ["127.0.0.1"]})
    dispatcher = _stub_dispatcher(CallbackPolicy(), dns)
    try:
        url = f"http://hooks.example.com:{receiver.port}/cb"
        assert dispatcher.deliver([_pending(1, url)], deadline=5).failed == (1,)
    finally:
        dispatcher.close()
    assert dns.lookups == 1 and receiver.hits == 0


def test_one_private_address_among_public_ones_refuses_the_host(
    receiver: CallbackReceiver,
) -> None:
    dns = StubResolver({"split.example.com": ["127.0.0.1", "10.1.2.3"]})
    dispatcher = _stub_dispatcher(LOCAL, dns)  # 127.0.0.1 allowed, 10.1.2.3 not
    try:
        url = f"http://split.example.com:{receiver.port}/cb"
        assert dispatcher.deliver([_pending(1, url)], deadline=5).failed == (1,)
    finally:
        dispatcher.close()
    assert receiver.hits == 0


def test_an_allow_listed_name_is_delivered_to_the_checked_address(
    receiver: CallbackReceiver,
) -> None:
    dns = StubResolver({"hooks.internal": ["127.0.0.1"]})
    dispatcher = _stub_dispatcher(LOCAL, dns)
    try:
        url = f"http://hooks.internal:{receiver.port}/cb"
        assert dispatcher.deliver([_pending(1, url)], deadline=5).delivered == (1,)
    finally:
        dispatcher.close()
    assert len(receiver.received) == 1


def test_a_redirect_is_not_followed(receiver: CallbackReceiver) -> None:
    redirecting = CallbackReceiver(status=307, location=receiver.url("/elsewhere")).start()
    dispatcher = HttpDispatcher(SECRET, timeout=2.0, policy=LOCAL)
    try:
        report = dispatcher.deliver([_pending(1, redirecting.url())], deadline=5)
    finally:
        dispatcher.close()
        redirecting.stop()
    assert report.failed == (1,)
    assert redirecting.hits == 1 and receiver.hits == 0


def _of(account_id: str, pending: PendingCallback) -> PendingCallback:
    return PendingCallback(
        pending.event_id,
        pending.url,
        pending.batch,
        pending.attempts,
        pending.created_at,
        pending.event,
        account_id,
    )


def test_each_account_signs_with_its_own_secrets_and_batches_never_mix_accounts(
    receiver: CallbackReceiver,
) -> None:
    """acme is rotating (two secrets), globex has one; both send batches to one URL."""
    own = {"acme": ("acme-new", "acme-old"), "globex": ("globex-1",)}
    dispatcher = HttpDispatcher(
        SECRET, timeout=2.0, batch_wait=0.05, policy=LOCAL, account_secrets=lambda a: own.get(a, ())
    )
    try:
        events = [
            _of("acme" if n % 2 else "globex", _pending(n, receiver.url(), batch=True))
            for n in range(10)
        ] + [_of("initech", _pending(99, receiver.url()))]
        report = dispatcher.deliver(events, deadline=10)
    finally:
        dispatcher.close()
    assert len(report.delivered) == 11
    by_account: dict[str, set[str]] = {}
    for r in receiver.received:
        ids = {e["id"] for e in r.json().get("events", [r.json()])}
        numbers = {int(i[1:]) for i in ids}
        account = (
            "initech" if numbers == {99} else "acme" if all(n % 2 for n in numbers) else "globex"
        )
        by_account.setdefault(account, set()).update(ids)
        secrets = own.get(account, (SECRET,))
        assert r.signature.count("v1=") == len(secrets)
        assert all(verify(s, int(r.timestamp), r.body, r.signature) for s in secrets)
        assert not verify(
            SECRET if account != "initech" else "acme-new", int(r.timestamp), r.body, r.signature
        )
    assert by_account["acme"] == {f"m{n}" for n in range(1, 10, 2)}
    assert by_account["globex"] == {f"m{n}" for n in range(0, 10, 2)}  # never in acme's POSTs


def test_an_mo_event_is_posted_as_written_signed_and_held_to_the_same_ssrf_policy(
    receiver: CallbackReceiver,
) -> None:
    body = b'{"type":"inbound","id":"mo1","from":"+447700900123"}'
    mo = replace(_pending(1, receiver.url()), body=body)
    guarded = HttpDispatcher(SECRET, timeout=2.0)  # no allow-list: 127.0.0.1 refused
    try:
        assert guarded.deliver([mo], deadline=5).failed == (1,)
    finally:
        guarded.close()
    assert receiver.hits == 0
    allowed = HttpDispatcher(SECRET, timeout=2.0, policy=LOCAL)
    try:
        assert allowed.deliver([mo], deadline=5).delivered == (1,)
    finally:
        allowed.close()
    (got,) = receiver.received
    assert got.body == body and verify(SECRET, int(got.timestamp), got.body, got.signature)
