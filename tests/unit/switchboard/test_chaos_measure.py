"""The chaos suite's pure measurements: recovery, all-final, misses against the targets."""

from __future__ import annotations

from dataclasses import replace

from switchboard.chaos import FaultReport, Sample, all_final_at, recovery_seconds


def _s(t: float, submits: int, final: int = 0, waiting: int | None = 5, sent: int = 5) -> Sample:
    return Sample(t, {"submits": submits, "final": final}, waiting, sent)


def test_recovery_counts_from_the_fault_end_to_the_first_sample_past_its_value() -> None:
    samples = [_s(0.0, 10), _s(1.0, 12), _s(2.0, 12), _s(3.0, 12), _s(4.5, 13)]

    assert recovery_seconds(samples, fault_end=2.0, signal="submits") == 2.5


def test_recovery_is_immediate_when_nothing_was_left_to_send_and_all_is_final() -> None:
    samples = [_s(0.0, 10), _s(2.0, 10, final=10, waiting=0, sent=0)]

    assert recovery_seconds(samples, fault_end=2.0, signal="submits") == 0.0


def test_recovery_is_none_when_traffic_never_flows_again() -> None:
    samples = [_s(0.0, 10), _s(2.0, 10), _s(9.0, 10, waiting=None)]

    assert recovery_seconds(samples, fault_end=1.0, signal="submits") is None


def test_all_final_is_the_first_sample_with_nothing_queued_sending_or_sent() -> None:
    samples = [_s(1.0, 5), _s(2.0, 9, waiting=0, sent=1), _s(3.0, 9, waiting=0, sent=0)]

    assert all_final_at(samples) == 3.0


def test_all_final_waits_for_the_load_to_end_an_empty_database_is_not_done() -> None:
    samples = [_s(0.1, 0, waiting=0, sent=0), _s(5.0, 9, waiting=0, sent=0)]

    assert all_final_at(samples, since=4.0) == 5.0


def _report() -> FaultReport:
    return FaultReport(
        fault="redis",
        database="sqlite",
        messages=10,
        accepted=10,
        final=10,
        lost=0,
        stuck=0,
        duplicates=2,
        in_flight_at_fault=3,
        in_flight_final_s=4.0,
        phantom_delivered=0,
        recovery_s=1.5,
        fault_s=3.0,
        time_to_all_final_s=12.0,
        all_final_after_fault_s=9.0,
        http_500=0,
        api_errors={},
        connection_errors=0,
        connection_lost=0,
        unacknowledged_rows=0,
        submit_rate_before_fault=100.0,
        carriers_ceiling=500,
    )


def test_a_run_within_every_target_misses_nothing() -> None:
    assert _report().misses() == []


def test_each_target_missed_is_named() -> None:
    bad = replace(
        _report(),
        final=8,
        lost=2,
        duplicates=4,
        http_500=1,
        recovery_s=None,
        phantom_delivered=1,
        in_flight_final_s=61.0,
    )

    assert bad.misses() == [
        "2 accepted messages never final",
        "lost 2",
        "phantom delivered 1",
        "duplicates 4 > in flight 3",
        "1 answers 500",
        "recovery None s > 10 s",
        "rows in flight at the fault final 61.0 s after it > 10 s",
    ]
