"""A campaign through the whole gateway: audience by CSV, a STOP by a simulated MO after the
upload, start, pause (nothing released while paused), resume, completion; the report's counts
equal the simulator's audit. Every call stays on 127.0.0.1."""

from __future__ import annotations

import csv
import io
import json
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from switchboard.stack import Stack, wait_until
from tests.e2e.conftest import StackFactory
from tests.e2e.conftest import api_call as _call
from tests.e2e.test_inbound import FINAL, NUMBERS, SUBSCRIBER, _mo

AUDIENCE = [f"+4474009{i:05d}" for i in range(60)] + [SUBSCRIBER]


def _raw(stack: Stack, method: str, path: str, data: bytes, content_type: str) -> Any:
    request = urllib.request.Request(  # noqa: S310 - http://127.0.0.1 only
        stack.api_url + path,
        method=method,
        data=data,
        headers={"Authorization": f"Bearer {stack.api_key}", "Content-Type": content_type},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - 127.0.0.1
        return response.read()


def _campaign(stack: Stack, campaign_id: str) -> dict[str, Any]:
    status, body = _call(stack, "GET", f"/v1/campaigns/{campaign_id}")
    assert status == 200
    return dict(body)


def test_a_campaign_runs_with_a_stop_by_mo_and_a_pause_and_matches_the_audit(
    make_stack: StackFactory, tmp_path: Path
) -> None:
    stack = make_stack(undelivered=0.0, carriers='["alpha"]', extra_routes=NUMBERS)
    status, warm = _call(stack, "POST", "/v1/messages", {"to": SUBSCRIBER, "body": "hi"})
    assert status == 202  # binds the worker, so the MO has a bind to arrive on
    status, campaign = _call(
        stack, "POST", "/v1/campaigns", {"template": "Hi {{name}}, 20% off", "max_rate": 10}
    )
    assert status == 201
    cid = campaign["id"]
    rows = io.StringIO()
    writer = csv.writer(rows, lineterminator="\n")
    writer.writerow(["to", "name"])
    writer.writerows([n, f"n{i}"] for i, n in enumerate(AUDIENCE))
    loaded = json.loads(
        _raw(stack, "PUT", f"/v1/campaigns/{cid}/audience", rows.getvalue().encode(), "text/csv")
    )
    assert loaded["recipients"] == len(AUDIENCE)

    _mo(stack, "STOP")  # after the upload: the release must still leave this number out
    assert wait_until(lambda: _call(stack, "GET", "/v1/opt-outs")[1]["opt_outs"], 30)

    assert _call(stack, "POST", f"/v1/campaigns/{cid}/start")[0] == 200
    assert wait_until(lambda: _campaign(stack, cid)["counts"].get("delivered", 0) >= 5, 30)
    assert _call(stack, "POST", f"/v1/campaigns/{cid}/pause")[0] == 200
    # within one slice nothing more is released: the scheduled count holds still
    assert wait_until(lambda: not _campaign(stack, cid)["counts"].get("queued"), 30)
    held = _campaign(stack, cid)["counts"].get("scheduled", 0)
    assert held > 0
    assert not wait_until(lambda: _campaign(stack, cid)["counts"].get("scheduled", 0) < held, 2)
    assert _call(stack, "POST", f"/v1/campaigns/{cid}/resume")[0] == 200

    assert wait_until(lambda: _campaign(stack, cid)["state"] == "completed", 60)
    # every message final (a `sent` one still waits for its receipt)
    assert wait_until(lambda: set(_campaign(stack, cid)["counts"]) <= FINAL, 30)
    shown = _campaign(stack, cid)
    report = list(
        csv.DictReader(
            io.StringIO(_raw(stack, "GET", f"/v1/campaigns/{cid}/report.csv", b"", "").decode())
        )
    )
    by_status = Counter(r["status"] for r in report)
    assert by_status == Counter({"delivered": len(AUDIENCE) - 1, "rejected": 1})
    assert shown["counts"] == dict(by_status)
    stopped = [r for r in report if r["to"] == SUBSCRIBER]
    assert [(r["status"], r["error_code"]) for r in stopped] == [
        ("rejected", "recipient_opted_out")
    ]
    assert float(shown["cost"]) > 0

    audit_file = tmp_path / "audit.jsonl"
    sent = {r["to"] for r in report if r["status"] == "delivered"}

    def audited() -> set[str]:
        return {
            json.loads(line)["destination"]
            for line in audit_file.read_text().splitlines()
            if json.loads(line)["destination"] != SUBSCRIBER.lstrip("+")
            and json.loads(line)["destination"] != SUBSCRIBER
        }

    assert wait_until(lambda: len(audited()) >= len(sent), 30)
    assert {d.lstrip("+") for d in audited()} == {n.lstrip("+") for n in sent}
    del warm
