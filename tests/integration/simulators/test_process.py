"""`python -m simulators` as a real process: listens, serves, stops on SIGTERM with final stats."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

from simulators.pdu import CommandStatus
from tests.integration.simulators.smpp_client import RawClient

ROOT = Path(__file__).resolve().parents[3]


def test_process_serves_and_prints_final_stats_on_sigterm(tmp_path: Path) -> None:
    scenario = tmp_path / "sim.toml"
    scenario.write_text(
        '[[carriers]]\nname = "alpha"\nsystem_id = "alpha"\npassword = "alphapw"\n'
        "receipts = false\n"
    )
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "simulators", "--scenario", str(scenario), "--quiet"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        match = re.match(r"alpha: smpp://127\.0\.0\.1:(\d+) ", first)
        assert match, first
        with RawClient(int(match.group(1))) as client:
            assert client.bind("alpha", "alphapw").status == CommandStatus.ESME_ROK
            client.submit()
            assert client.read().status == CommandStatus.ESME_ROK
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0
    final = json.loads(out.strip().splitlines()[-1])
    assert final["alpha"]["submits_accepted"] == 1


def test_process_check_reports_located_errors(tmp_path: Path) -> None:
    scenario = tmp_path / "bad.toml"
    scenario.write_text('[[carriers]]\nname = "alpha"\nsystem_id = "alpha"\nmps = -1\n')
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "simulators", "--scenario", str(scenario), "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == f"{scenario}:4: carriers[0].mps: must be > 0"
