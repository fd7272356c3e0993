"""`switchboard campaigns create|watch`: the calls they make and what they print (the HTTP
side is a recording fake of `_call`; the API itself is tested over HTTP elsewhere)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
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


def test_watch_polls_until_the_campaign_is_done_and_prints_the_counts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    running = {
        "state": "running",
        "counts": {"queued": 5, "delivered": 5},
        "remaining": 5,
        "send_rate": 2.5,
        "cost": "0.10",
        "currency": "EUR",
        "eta_seconds": 2,
    }
    done = {
        "state": "completed",
        "counts": {"delivered": 9, "rejected": 1},
        "remaining": 0,
        "send_rate": 2.5,
        "cost": "0.18",
        "currency": "EUR",
        "eta_seconds": 0,
    }
    fake = FakeApi({("GET", "/v1/campaigns/c1"): [running, running, done]})
    monkeypatch.setattr(cli_campaigns, "_call", fake)
    monkeypatch.setattr(time, "sleep", lambda _s: None)  # the module cli_campaigns sleeps with
    result = CliRunner().invoke(
        app, ["campaigns", "watch", "c1", "--key", "k", "--api-url", "http://h:8080"]
    )
    assert result.exit_code == 0, result.output
    assert len(fake.calls) == 3
    assert "[completed] delivered 9, rejected 1" in result.output
    assert "cost 0.18 EUR" in result.output
