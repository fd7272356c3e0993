"""The campaign panel's frame shaping (no database: a `LiveCampaign` as the store returns it)."""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime

from api.campaign_feed import CAMPAIGNS_EVERY, COST_FACTOR, campaign_view, pause
from campaigns import zone_key
from store import LiveCampaign

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # New York 07:00, London 12:00


def _live(**fields: object) -> LiveCampaign:
    values: dict[str, object] = {
        "id": "c1",
        "name": "winter sale",
        "state": "running",
        "start_at": datetime(2026, 11, 23, tzinfo=UTC),
        "max_rate": 10.0,
        "send_window": "09:00-20:00",
        "recipients": 100,
        "skipped": 4,
        "by_status": {"scheduled": 60, "queued": 10, "delivered": 25, "undelivered": 5},
        "scheduled_by_zone": {zone_key("+12125550123"): 40, zone_key("+447400123456"): 20},
    }
    values.update(fields)
    return LiveCampaign(**values)  # type: ignore[arg-type]


def test_a_running_campaign_shows_its_tally_rate_eta_and_hold() -> None:
    history = deque([(0.0, 10), (10.0, 34)])  # 24 recipients done in 10 s
    view = campaign_view(_live(), NOW, history, {})
    assert (view["total"], view["sent"], view["delivered"], view["failed"]) == (104, 30, 25, 5)
    assert (view["skipped"], view["remaining"], view["rate"]) == (4, 70, 2.4)
    assert (view["held"], view["held_zones"]) == (40, 1)  # New York's 40, until 14:00 UTC
    assert view["held_until"] == "2026-11-23T14:00:00+00:00"
    assert view["eta_seconds"] == round(30 / 2.4)  # the 30 not held, at the measured rate


def test_a_paused_or_not_yet_started_campaign_has_no_eta() -> None:
    paused = campaign_view(_live(state="paused"), NOW, deque(), {})
    later = campaign_view(_live(start_at=datetime(2026, 11, 24, tzinfo=UTC)), NOW, deque(), {})
    assert (paused["state"], paused["eta_seconds"]) == ("paused", None)
    assert (later["state"], later["eta_seconds"]) == ("scheduled", None)


def test_a_slow_query_stretches_the_tick() -> None:
    assert pause(CAMPAIGNS_EVERY, 0.01) == CAMPAIGNS_EVERY
    assert pause(CAMPAIGNS_EVERY, 0.5) == 0.5 * COST_FACTOR
