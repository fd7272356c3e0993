"""`switchboard campaigns create|watch`: the calls they make and what they print (the HTTP
side is a recording fake of `_call`; the API itself is tested over HTTP elsewhere)."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from switchboard import cli_campaigns
from switchboard.cli import app


class FakeApi:
    """Answers `_call` from a script of answers per (method, path), recording each call."""

    def __init__(self, answers: dict[tuple[str, str], list[Any]]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, str, Any, bytes | None]] = []

    def __call__(
        self,
        method: str,
        url: str,
        key: str,
        body: Any = None,
        data: Any = None,
        content_type: str = "application/json",
        length: int | None = None,
    ) -> Any:
        path = url.split("8080", 1)[1]
        self.calls.append((method, path, body, data.read() if hasattr(data, "read") else None))
        queue = self.answers[(method, path)]
        return queue.pop(0) if len(queue) > 1 else queue[0]


def test_create_posts_the_campaign_streams_the_file_and_starts_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    audience = tmp_path / "audience.csv"
    audience.write_text("to,first_name\n+447400123456,Ann\n")
    fake = FakeApi(
        {
            ("POST", "/v1/campaigns"): [{"id": "c1"}],
            ("PUT", "/v1/campaigns/c1/audience"): [{"recipients": 1, "duplicates": 0}],
            ("POST", "/v1/campaigns/c1/start"): [{"state": "running"}],
        }
    )
    monkeypatch.setattr(cli_campaigns, "_call", fake)
    result = CliRunner().invoke(
        app,
        [
            "campaigns",
            "create",
            "--csv",
            str(audience),
            "--template",
            "Hi {{first_name}}",
            "--window",
            "09:00-20:00",
            "--start",
            "--key",
            "k",
            "--api-url",
            "http://h:8080",
        ],
    )
    assert result.exit_code == 0, result.output
    assert [(m, p) for m, p, _, _ in fake.calls] == [
        ("POST", "/v1/campaigns"),
        ("PUT", "/v1/campaigns/c1/audience"),
        ("POST", "/v1/campaigns/c1/start"),
    ]
    assert fake.calls[0][2] == {
        "template": "Hi {{first_name}}",
        "name": "",
        "send_window": "09:00-20:00",
    }
    assert fake.calls[1][3] == audience.read_bytes()
    assert '"recipients": 1' in result.output


def _campaign(state: str, counts: dict[str, int], cost: str) -> dict[str, Any]:
    return {
        "state": state,
        "counts": counts,
        "remaining": counts.get("queued", 0),
        "send_rate": 2.5,
        "cost": cost,
        "currency": "EUR",
        "eta_seconds": 2 if state == "running" else 0,
    }


RUNNING = _campaign("running", {"queued": 5, "delivered": 5}, "0.10")
MOVED = _campaign("running", {"queued": 2, "delivered": 8}, "0.16")
DONE = _campaign("completed", {"delivered": 9, "rejected": 1}, "0.18")


def _watch(monkeypatch: pytest.MonkeyPatch, answers: list[dict[str, Any]]) -> tuple[Any, FakeApi]:
    fake = FakeApi({("GET", "/v1/campaigns/c1"): answers})
    monkeypatch.setattr(cli_campaigns, "_call", fake)
    monkeypatch.setattr(time, "sleep", lambda _s: None)  # the module cli_campaigns sleeps with
    result = CliRunner().invoke(
        app, ["campaigns", "watch", "c1", "--key", "k", "--api-url", "http://h:8080"]
    )
    assert result.exit_code == 0, result.output
    return result, fake


def test_watch_polls_until_the_campaign_is_done_and_prints_the_counts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    result, fake = _watch(monkeypatch, [RUNNING, RUNNING, DONE])
    assert len(fake.calls) == 3
    assert "[completed] delivered 9, rejected 1" in result.stdout
    assert "cost 0.18 EUR" in result.stdout


def test_watch_off_a_terminal_writes_a_line_each_time_the_counts_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    result, fake = _watch(monkeypatch, [RUNNING, RUNNING, MOVED, MOVED, DONE])
    assert len(fake.calls) == 5
    assert result.stderr.splitlines() == [
        "[running] delivered 5, queued 5 · 2.5/s · cost 0.10 EUR · ETA 2s",
        "[running] delivered 8, queued 2 · 2.5/s · cost 0.16 EUR · ETA 2s",
    ]
    assert result.stdout.splitlines() == [
        "[completed] delivered 9, rejected 1 · 2.5/s · cost 0.18 EUR · ETA 0s"
    ]


def test_watch_on_a_terminal_draws_the_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    screen = io.StringIO()
    monkeypatch.setattr(
        cli_campaigns,
        "Console",
        lambda stderr: Console(file=screen, force_terminal=True, width=160),
    )
    result, _ = _watch(monkeypatch, [RUNNING, DONE])
    assert result.stderr == ""  # no plain lines: the bar instead
    drawn = screen.getvalue()
    assert "sent" in drawn and "100%" in drawn
    assert "[completed] delivered 9, rejected 1" in result.stdout
