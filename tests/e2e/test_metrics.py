"""`/metrics` scraped while a stack runs: the counters agree with the carriers' own books."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from switchboard.embedded import free_port
from switchboard.load import generated_messages, send_all
from switchboard.stack import Stack, wait_until
from switchboard.wiring import utcnow
from tests.e2e.conftest import StackFactory
from tests.e2e.test_end_to_end import _all_final

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str, key: str | None = None) -> Samples:
    """Every sample of one scrape, by (name, labels)."""
    request = urllib.request.Request(url)  # noqa: S310 - http://127.0.0.1 only
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - 127.0.0.1
        text = response.read().decode()
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def scrape_soon(url: str) -> Samples:
    """One scrape, or nothing while the worker's port is not listening yet."""
    try:
        return scrape(url)
    except urllib.error.URLError:
        return {}


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum of `name` over the samples carrying these labels."""
    want = set(labels.items())
    return sum(v for (n, pairs), v in samples.items() if n == name and want <= pairs)


def _post(url: str, body: object) -> None:
    request = urllib.request.Request(  # noqa: S310 - 127.0.0.1
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    urllib.request.urlopen(request, timeout=5).close()  # noqa: S310 - 127.0.0.1


def _control_url(stack: Stack) -> str:
    from simulators import load_scenario

    return f"http://127.0.0.1:{load_scenario(stack.simulator_file).control_port}"


# The counters do not depend on the backend (the stream and dashboard tests cover the other one).
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_scraped_counters_equal_the_simulators_submits_throttles_and_receipts(
    make_stack: StackFactory,
) -> None:
    # Given alpha's real limit below its configured 200 MPS (so it throttles), beta honest
    api_port = free_port()  # the API family's unauthenticated port, beside its admin /metrics
    stack = make_stack(
        alpha_mps=200,
        beta_mps=200,
        undelivered=0.1,
        env={"SWITCHBOARD_METRICS_PORT": str(api_port)},
    )
    _post(_control_url(stack) + "/faults", {"carrier": "alpha", "mps": 60})
    worker = stack.worker_metrics_url("worker-send")
    bodies = generated_messages(400, seed=11)
    # When 400 messages flow, scraping the send worker while they do
    mid: list[Samples] = []
    sending = threading.Thread(
        target=lambda: asyncio.run(send_all(stack.api_url, stack.api_key, bodies, concurrency=16))
    )
    sending.start()
    assert wait_until(
        lambda: total(scrape_soon(worker), "switchboard_submits_total") > 0, timeout=30
    )
    mid.append(scrape(worker))
    sending.join()
    ids = [row[0] for row in _ids(stack)]
    assert len(ids) == 400
    assert wait_until(lambda: _all_final(stack, ids), timeout=90), stack.store.status_counts(ids)
    sim = stack.simulator_stats()

    def books_agree() -> bool:
        got = scrape(worker)
        stats = stack.simulator_stats()
        return all(
            total(got, "switchboard_receipts_total", carrier=c) == stats[c]["receipts_acked"]
            for c in ("alpha", "beta")
        )

    assert wait_until(books_agree, timeout=10)
    final = scrape(worker)
    sim = stack.simulator_stats()
    # Then every counter equals the carrier's own count
    for carrier in ("alpha", "beta"):
        ok = total(final, "switchboard_submits_total", carrier=carrier, result="ok")
        throttled = total(final, "switchboard_submits_total", carrier=carrier, result="throttled")
        receipts = total(final, "switchboard_receipts_total", carrier=carrier)
        assert (ok, throttled, receipts) == (
            sim[carrier]["submits_accepted"],
            sim[carrier]["throttled"],
            sim[carrier]["receipts_acked"],
        ), carrier
        assert total(final, "switchboard_submit_duration_seconds_count", carrier=carrier) >= ok
    assert sim["alpha"]["throttled"] > 0  # the test saw throttles, not only zeros
    assert total(mid[0], "switchboard_submits_total") < total(final, "switchboard_submits_total")
    delivered = total(final, "switchboard_receipts_total", state="delivered")
    assert delivered == stack.store.status_counts(ids).get("delivered", 0)

    # And the API's /metrics (admin key) counts what it accepted, and reads the live gauges
    admin = stack.store.create_api_key("operators", utcnow(), is_admin=True)
    api = scrape(stack.api_url + "/metrics", admin)
    assert total(api, "switchboard_messages_accepted_total") == 400
    assert (
        total(
            api,
            "switchboard_http_requests_total",
            route="/v1/messages",
            method="POST",
            status="202",
        )
        == 400
    )
    assert total(api, "switchboard_outbox_backlog") == 0
    assert total(api, "switchboard_carrier_mps_limit", carrier="alpha") == 200
    assert total(api, "switchboard_carrier_circuit_state", carrier="beta", state="closed") == 1
    assert 0 < total(api, "switchboard_carrier_health_score", carrier="alpha") <= 1
    assert ("switchboard_queue_depth", frozenset({("queue", "otp")})) in api
    # the same on the operator's own port, without a key
    open_port = scrape(f"http://127.0.0.1:{api_port}/metrics")
    assert total(open_port, "switchboard_messages_accepted_total") == 400
    assert total(open_port, "switchboard_carrier_mps_limit", carrier="beta") == 200
    # but never without one on the API's port
    for key, status, code in (
        (None, 401, "missing_api_key"),
        (stack.api_key, 403, "admin_required"),
    ):
        with pytest.raises(urllib.error.HTTPError) as refused:
            scrape(stack.api_url + "/metrics", key)
        assert (refused.value.code, json.loads(refused.value.read())["code"]) == (status, code)


def _ids(stack: Stack) -> list[tuple[str]]:
    with stack.store.engine.connect() as conn:
        return [(r[0],) for r in conn.exec_driver_sql("select id from messages").all()]


__all__ = ["scrape", "total"]
