"""`config/switchboard.toml` and the process plan of `switchboard run` (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from messaging import ConfigError
from switchboard.runconfig import (
    STAGES,
    ChildSpec,
    RunConfig,
    load_run_config,
    machine_defaults,
    process_plan,
)
from switchboard.supervisor import RestartBudget

ROOT = Path(__file__).resolve().parents[3]


def _names(plan: list[ChildSpec]) -> list[str]:
    return [c.name for c in plan]


def test_no_file_gives_the_machine_defaults_workers_first_api_last() -> None:
    plan = process_plan(load_run_config(None), cpus=2, python="py")
    assert _names(plan) == [
        "worker-otp",
        "worker-marketing",
        "worker-receipts",
        "worker-callbacks",
        "api",
    ]
    by_name = {c.name: c.args for c in plan}
    assert by_name["worker-otp"] == (
        "py",
        *("-m", "switchboard", "worker", "--queues", "otp,transactional"),
        *("--concurrency", "1", "--pool", "prefork", "--no-sweeper"),
    )
    assert by_name["worker-receipts"][-1] == "--sweeper"  # the one sweeper candidate per host
    assert "--nice" in by_name["worker-marketing"]
    assert by_name["worker-callbacks"][6:10] == ("--concurrency", "4", "--pool", "threads")
    assert by_name["api"][-2:] == ("--processes", "1")


def test_defaults_grow_with_the_machine() -> None:
    assert machine_defaults(1)["otp"] == (1, 1)
    assert machine_defaults(16)["otp"] == (1, 8)
    assert machine_defaults(16)["api"] == (8, 1)
    assert machine_defaults(64)["api"] == (8, 1)  # capped


def test_counts_from_the_file_and_zero_leaves_a_role_out(tmp_path: Path) -> None:
    path = tmp_path / "switchboard.toml"
    path.write_text(
        "[api]\nprocesses = 0\n"
        "[workers.otp]\nprocesses = 2\nconcurrency = 3\n"
        "[workers.marketing]\nprocesses = 0\n"
        "[beat]\nenabled = false\n"
        "[metrics]\nport = 9100\n"
    )
    plan = process_plan(load_run_config(path), cpus=2, python="py")
    assert _names(plan) == ["worker-otp-1", "worker-otp-2", "worker-receipts", "worker-callbacks"]
    assert plan[0].args[6:8] == ("--concurrency", "3")
    assert all("--sweeper" not in c.args for c in plan)  # beat off on this host
    assert [c.env["SWITCHBOARD_METRICS_PORT"] for c in plan] == ["9101", "9102", "9103", "9104"]


def test_the_api_stops_first_then_every_worker() -> None:
    plan = process_plan(RunConfig(), cpus=4, python="py")
    assert {c.name: c.stage for c in plan}["api"] == 0
    assert {c.stage for c in plan if c.role != "api"} == {1}
    assert set(STAGES) == {c.role for c in plan}


def test_the_shipped_file_is_valid() -> None:
    load_run_config(ROOT / "config" / "switchboard.toml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[api]\nprocesses = -1\n", "switchboard.toml:2: api.processes: must be >= 0"),
        (
            "[workers.otp]\nprocesses = 1\nconcurrency = 0\n",
            "switchboard.toml:3: workers.otp.concurrency: must be > 0",
        ),
        ("[workers.sms]\nprocesses = 1\n", "switchboard.toml:1: workers.sms: unknown key"),
        ("[beat]\nenabled = 3\n", "switchboard.toml:2: beat.enabled: must be true or false"),
        (
            "[supervisor]\nstop_timeout = 0\n",
            "switchboard.toml:2: supervisor.stop_timeout: must be > 0",
        ),
        ("[metrics]\nport = 70000\n", "switchboard.toml:2: metrics.port: must be <= 65535"),
        ("[api\n", "switchboard.toml:1: TOML syntax"),
    ],
)
def test_a_bad_file_names_file_line_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "switchboard.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_run_config(path)
    assert str(caught.value).removeprefix(str(tmp_path) + "/").startswith(expected), caught.value


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "switchboard.toml"
    path.write_text("[api]\nprocesses = -1\n[workers.callbacks]\nconcurrency = 0\n")
    with pytest.raises(ConfigError) as caught:
        load_run_config(path)
    assert [(p.line, p.key) for p in caught.value.problems] == [
        (2, "api.processes"),
        (4, "workers.callbacks.concurrency"),
    ]


def test_restart_budget_allows_so_many_restarts_per_window() -> None:
    budget = RestartBudget(max_restarts=2, window=10.0)
    assert budget.allow(0.0) and budget.allow(1.0)
    assert not budget.allow(2.0)
    assert budget.allow(10.5)  # the first left the window
    assert not budget.allow(10.6)
