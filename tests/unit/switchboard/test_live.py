"""The dashboard's figures: rates between ticks, the windowed OTP p99, histogram quantiles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from api.stream_wire import FiguresFrame
from metrics.exposition import SampleKey
from switchboard.live import CarrierLive, Figures, Live, LiveCollector, quantile


class _Reader:
    def read(self) -> Live:
        return Live((CarrierLive("alpha", 100, 98.0, 0.5, 0.9, "closed"),), {"otp": 3}, backlog=7)


def _submits(ok: float, throttled: float, buckets: dict[str, float]) -> dict[SampleKey, float]:
    out: dict[SampleKey, float] = {
        ("switchboard_submits_total", (("carrier", "alpha"), ("result", "ok"))): ok,
        ("switchboard_submits_total", (("carrier", "alpha"), ("result", "throttled"))): throttled,
        ("switchboard_receipts_total", (("carrier", "alpha"), ("state", "delivered"))): ok * 0.9,
        ("switchboard_receipts_total", (("carrier", "alpha"), ("state", "undelivered"))): ok * 0.1,
    }
    for le, count in buckets.items():
        out[("switchboard_otp_latency_seconds_bucket", (("carrier", "alpha"), ("le", le)))] = count
    return out


def test_rates_are_differences_between_ticks_and_p99_is_over_the_window(tmp_path: Path) -> None:
    now = [100.0]
    ticks = iter(
        [
            _submits(0, 0, {"0.05": 0, "0.1": 0, "+Inf": 0}),
            _submits(50, 2, {"0.05": 99, "0.1": 100, "+Inf": 100}),
        ]
    )
    figures = Figures(
        _Reader(),  # type: ignore[arg-type]
        tmp_path,
        clock=lambda: now[0],
        read_samples=lambda _dirs: next(ticks),
    )
    first: dict[str, Any] = figures()
    assert first["carriers"][0]["rate"] == 0.0
    assert first["otp_p99_ms"] is None
    now[0] = 100.5
    second = figures()
    alpha = second["carriers"][0]
    assert (alpha["rate"], alpha["throttled_per_s"], alpha["throttled"]) == (100.0, 4.0, 2)
    assert alpha["delivery_ratio"] == pytest.approx(0.9)
    assert (second["backlog"], second["queues"]) == (7, {"otp": 3})
    assert second["otp_p99_ms"] == pytest.approx(50.0)
    # both are the frame the OpenAPI document lists for /v1/stream (closed objects: no key more)
    frame = TypeAdapter(FiguresFrame)
    assert frame.validate_python(first) == first and frame.validate_python(second) == second


@pytest.mark.parametrize(
    ("q", "buckets", "expected"),
    [
        (0.5, {0.1: 50.0, 0.2: 100.0, float("inf"): 100.0}, 0.1),
        (0.75, {0.1: 50.0, 0.2: 100.0, float("inf"): 100.0}, 0.15),
        (0.99, {0.1: 0.0, float("inf"): 10.0}, 0.1),
        (0.99, {0.1: 0.0, float("inf"): 0.0}, None),
    ],
)
def test_quantile_interpolates_within_a_bucket(
    q: float, buckets: dict[float, float], expected: float | None
) -> None:
    got = quantile(q, buckets)
    assert got == (pytest.approx(expected) if expected is not None else None)


def test_the_gauges_carry_each_carriers_submit_latency_and_receipt_delay() -> None:
    class _Slow:
        def read(self) -> Live:
            quiet = CarrierLive("beta", 100, 98.0, 0.5, 1.0, "closed")
            slow = CarrierLive("alpha", 100, 98.0, 0.5, 0.4, "closed", 1.25, 90.0)
            return Live((slow, quiet), {}, backlog=0)

    families = {f.name: f for f in LiveCollector(_Slow()).collect()}  # type: ignore[arg-type]
    latency = families["switchboard_carrier_submit_latency_seconds"].samples
    delay = families["switchboard_carrier_receipt_delay_seconds"].samples
    assert [(s.labels["carrier"], s.value) for s in latency] == [("alpha", 1.25)]  # beta: none
    assert [(s.labels["carrier"], s.value) for s in delay] == [("alpha", 90.0)]
