"""`switchboard run --check` and a bad run config (exit 2, every problem as file:line:key)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from switchboard.cli import app


@pytest.fixture(autouse=True)
def _keep_root_logging() -> Iterator[None]:
    """`run` configures the root logger; give the test's back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_check_prints_every_child_and_starts_nothing(tmp_path: Path) -> None:
    config = tmp_path / "switchboard.toml"
    config.write_text("[api]\nprocesses = 3\n[workers.marketing]\nprocesses = 0\n")
    result = CliRunner().invoke(app, ["run", "--config", str(config), "--check"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "worker-otp",
        "worker-receipts",
        "worker-callbacks",
        "api",
    ]
    assert lines[-1].endswith("switchboard api --processes 3")


def test_a_bad_config_exits_2_naming_file_line_and_key(tmp_path: Path) -> None:
    config = tmp_path / "switchboard.toml"
    config.write_text("[api]\nprocesses = -2\n[workers.otp]\nthreads = 4\n")
    result = CliRunner().invoke(app, ["run", "--config", str(config)])
    assert result.exit_code == 2
    assert f"{config}:2: api.processes: must be >= 0" in result.output
    assert f"{config}:4: workers.otp.threads: unknown key" in result.output


def test_a_missing_explicit_config_is_an_error_not_the_defaults(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["run", "--config", str(tmp_path / "nope.toml")])
    assert result.exit_code == 2
    assert "nope.toml: cannot read" in result.output
