"""InFlightWindow: sequence numbers, blocking slots, deadlines, closing — no sockets."""

from __future__ import annotations

import threading

import pytest

from carriers.smpp import codec
from carriers.smpp.codec import Pdu
from carriers.smpp.window import InFlightWindow
from messaging.errors import CarrierError, Unbound


def _noop_resolve(pdu: Pdu) -> None:
    return None


def _noop_fail(error: CarrierError) -> None:
    return None


def _window(capacity: int = 2, now: list[float] | None = None) -> InFlightWindow:
    clock = now if now is not None else [0.0]
    window = InFlightWindow(capacity, lambda: clock[0])
    window.accept()
    return window


def _submit(window: InFlightWindow, timeout: float = 1.0) -> int:
    return window.register("submit_sm", timeout, _noop_resolve, _noop_fail, counted=True)


def test_sequence_numbers_start_at_one_and_increase() -> None:
    window = _window(capacity=5)

    assert [_submit(window) for _ in range(3)] == [1, 2, 3]


def test_sequence_numbers_wrap_after_0x7fffffff() -> None:
    window = _window()
    window._sequence = codec.MAX_SEQUENCE - 1  # jump to the end of the range

    assert [
        window.register("enquire_link", 1, _noop_resolve, _noop_fail, counted=False)
        for _ in range(3)
    ] == [codec.MAX_SEQUENCE, 1, 2]


def test_counted_register_blocks_until_a_slot_is_taken_back() -> None:
    window = _window(capacity=1)
    first = _submit(window)
    got: list[int] = []
    waiter = threading.Thread(target=lambda: got.append(_submit(window)))
    waiter.start()
    waiter.join(timeout=0.1)

    assert waiter.is_alive()  # the window is full
    assert window.take(first) is not None
    waiter.join(timeout=30)  # returns as soon as it ends; generous for a loaded host
    assert got == [2]
    assert window.in_flight == 1


def test_uncounted_requests_never_block_and_hold_no_slot() -> None:
    window = _window(capacity=1)
    _submit(window)

    window.register("enquire_link", 1, _noop_resolve, _noop_fail, counted=False)

    assert (window.in_flight, len(window)) == (1, 2)


def test_expire_returns_only_past_deadlines_and_frees_their_slots() -> None:
    now = [10.0]
    window = _window(capacity=3, now=now)
    early = _submit(window, timeout=1.0)
    now[0] = 10.5
    late = _submit(window, timeout=1.0)

    now[0] = 11.0
    expired = window.expire(now[0])

    assert [e.command for e in expired] == ["submit_sm"]
    assert window.take(early) is None
    assert window.take(late) is not None
    assert window.in_flight == 0


def test_take_of_unknown_sequence_is_none() -> None:
    assert _window().take(99) is None


def test_close_returns_everything_once_and_refuses_new_requests() -> None:
    window = _window(capacity=3)
    _submit(window)
    window.register("enquire_link", 1, _noop_resolve, _noop_fail, counted=False)

    entries = window.close("connection lost")

    assert entries is not None
    assert len(entries) == 2
    assert window.close("again") is None
    assert window.closed_reason == "connection lost"
    assert not window.accepting
    with pytest.raises(Unbound, match="connection lost"):
        window.register("unbind", 1, _noop_resolve, _noop_fail, counted=False)


def test_close_wakes_a_blocked_submitter_with_unbound() -> None:
    window = _window(capacity=1)
    _submit(window)
    errors: list[BaseException] = []

    def blocked() -> None:
        try:
            _submit(window)
        except Unbound as exc:
            errors.append(exc)

    waiter = threading.Thread(target=blocked)
    waiter.start()
    window.close("link down")
    waiter.join(timeout=30)  # returns as soon as it ends; generous for a loaded host

    assert len(errors) == 1


def test_not_accepting_refuses_submits_but_not_unbind() -> None:
    window = InFlightWindow(2, lambda: 0.0)

    with pytest.raises(Unbound):
        _submit(window)
    assert window.register("unbind", 1, _noop_resolve, _noop_fail, counted=False) == 1
