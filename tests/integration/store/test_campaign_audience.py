"""The audience load on SQLite and PostgreSQL: batches written by the writer thread while the
next ones parse (PostgreSQL moves each batch into `messages` as it comes), duplicates and
opt-outs across batch boundaries, bodies COPY must escape, and a writer failure that leaves
nothing stored."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

import api.campaign_streams as streams
from campaigns import Template
from store import AudienceSkip, AudienceTotals, CampaignStore, MessageStore, NewCampaign, new_id
from store.campaign_audience import AudienceLoad
from store.models import Message

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
TEMPLATE = Template.parse("Hi {{name}}")


def _campaign(store: MessageStore) -> tuple[CampaignStore, str, str]:
    account = store.ensure_account("acme", NOW)
    campaigns = CampaignStore(store.engine)
    campaign_id = new_id()
    campaigns.create(
        NewCampaign(
            campaign_id,
            account,
            "c",
            "Acme",
            TEMPLATE.text,
            "marketing",
            NOW,
            None,
            None,
            3600,
            NOW,
        )
    )
    return campaigns, account, campaign_id


def _load(
    campaigns: CampaignStore, account: str, campaign_id: str, rows: list[list[str]]
) -> AudienceTotals:
    load = campaigns.audience_load(campaign_id, NOW)
    assert load.open(account) == "draft"
    numbered = [(line, fields) for line, fields in enumerate(rows, start=2)]
    return streams.load_rows(load, TEMPLATE, ["to", "name"], numbered)


def _messages(store: MessageStore, campaign_id: str) -> dict[int, tuple[str, str]]:
    with store.engine.connect() as conn:
        found = conn.execute(
            select(Message.campaign_line, Message.to, Message.body).where(
                Message.campaign_id == campaign_id
            )
        ).all()
    return {int(line or 0): (to, body) for line, to, body in found}


def test_duplicates_and_opt_outs_across_batches_keep_the_first_line_of_each_number(
    store: MessageStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streams, "DB_BATCH", 3)  # every few rows a batch of its own
    campaigns, account, campaign_id = _campaign(store)
    store.add_opt_out(account, "+447400000005", NOW)
    numbers = [f"+4474000000{n:02d}" for n in (1, 2, 3, 4, 1, 5, 2, 6, 5, 1, 7)]
    totals = _load(campaigns, account, campaign_id, [[n, f"N{i}"] for i, n in enumerate(numbers)])
    # lines 2..12: first lines of 1, 2, 3, 4, 6, 7 scheduled; 1 and 2 again are duplicates
    # (three lines), both lines of the opted-out 5 are skipped
    assert (totals.recipients, totals.duplicates, totals.opted_out) == (6, 3, 2)
    scheduled = _messages(store, campaign_id)
    assert sorted(scheduled) == [2, 3, 4, 5, 9, 12]
    assert scheduled[2] == ("+447400000001", "Hi N0")
    record = campaigns.get(account, campaign_id)
    assert record is not None and record.recipients == 6 and record.opted_out == 2


def test_bodies_with_tabs_newlines_and_backslashes_are_stored_as_rendered(
    store: MessageStore,
) -> None:
    campaigns, account, campaign_id = _campaign(store)
    name = "Ann\tB\\n\nC\r\\"
    _load(campaigns, account, campaign_id, [["+447400000001", name]])
    assert _messages(store, campaign_id) == {2: ("+447400000001", f"Hi {name}")}


def test_a_writer_failure_reaches_the_caller_and_nothing_is_stored(
    store: MessageStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streams, "DB_BATCH", 2)
    campaigns, account, campaign_id = _campaign(store)
    _load(campaigns, account, campaign_id, [["+447400000009", "Old"]])  # a previous audience

    def broken(self: AudienceLoad, *args: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(AudienceLoad, "_skip", broken)
    load = campaigns.audience_load(campaign_id, NOW)
    load.open(account)
    rows = [(line, ["+447400000001", "A"] if line % 2 else ["nope", "B"]) for line in range(2, 40)]
    with pytest.raises(RuntimeError, match="disk full"):
        streams.load_rows(load, TEMPLATE, ["to", "name"], rows)
    load.abort()
    assert _messages(store, campaign_id) == {2: ("+447400000009", "Hi Old")}  # the old one stays


def test_adding_before_open_is_refused(store: MessageStore) -> None:
    campaigns, _, campaign_id = _campaign(store)
    with pytest.raises(RuntimeError, match="before open"):
        campaigns.audience_load(campaign_id, NOW).add([], [AudienceSkip(2, "x", "bad_row", "")])
