"""The campaign endpoints over HTTP, SQLite and PostgreSQL: create, CSV audience, actions,
progress and report; the release slice (`workers.campaign_release`) run with freezegun's clock."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from freezegun import freeze_time
from sqlalchemy import select, update

from campaigns import CarrierCapacity
from store import CampaignStore, MessageStore
from store.models import Message
from tests.integration.api.test_messages_api import NOW, RecordingOutbox, run
from workers.campaign_release import release_slice

CAPACITY = {"alpha": CarrierCapacity(mps=80)}
US, INDIA, UK = "+12125550123", "+919876543210", "+447400123456"


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _release(store: MessageStore, outbox: RecordingOutbox, now: datetime | None = None) -> int:
    counts = release_slice(
        CampaignStore(store.engine),
        outbox,
        lambda: CAPACITY,
        now or datetime.now(UTC),
        slice_seconds=2.0,
    )
    return counts.queued


def _queued_numbers(store: MessageStore) -> set[str]:
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT \"to\" FROM messages WHERE status = 'queued' AND campaign_id IS NOT NULL"
        ).all()
    return {r[0] for r in rows}


async def _create(client: TestClient[Any, Any], key: str, **fields: Any) -> dict[str, Any]:
    body = {"template": "Hi {{first_name}}, 20% off today", "from": "Acme", **fields}
    response = await client.post("/v1/campaigns", json=body, headers=_auth(key))
    assert response.status == 201, await response.text()
    created: dict[str, Any] = await response.json()
    return created


async def _upload(
    client: TestClient[Any, Any], key: str, campaign_id: str, text: str | bytes
) -> tuple[int, dict[str, Any]]:
    response = await client.put(
        f"/v1/campaigns/{campaign_id}/audience",
        data=text.encode() if isinstance(text, str) else text,
        headers={**_auth(key), "Content-Type": "text/csv"},
    )
    return response.status, await response.json()


async def _act(client: TestClient[Any, Any], key: str, campaign_id: str, action: str) -> Any:
    return await client.post(f"/v1/campaigns/{campaign_id}/{action}", headers=_auth(key))


def _csv(rows: Sequence[Sequence[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def test_a_csv_audience_is_normalised_deduplicated_and_bad_rows_are_reported_by_line(
    store: MessageStore,
) -> None:
    outbox = RecordingOutbox()
    seen: dict[str, Any] = {}

    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        account = store.ensure_account("acme", NOW)
        store.add_opt_out(account, "+33612345679", NOW)
        campaign = await _create(client, key)
        text = _csv(
            [
                ["to", "first_name"],
                ["+44 7400 123456", "Ann"],  # line 2
                ["not a number", "Bob"],  # 3: invalid
                ["+447400123456", "Ann again"],  # 4: duplicate of line 2
                ["+33612345678", ""],  # 5: no first_name
                ["+33612345679", "Olga"],  # 6: opted out
                ["+12125550123", "Sam", "extra"],  # 7: three fields
                ["+12125550124", "Zoe"],  # 8
            ]
        )
        status, seen["load"] = await _upload(client, key, campaign["id"], text)
        assert status == 200
        shown = await client.get(f"/v1/campaigns/{campaign['id']}", headers=_auth(key))
        seen["shown"] = await shown.json()

    run(store, outbox, scenario)
    load = seen["load"]
    assert (load["recipients"], load["duplicates"], load["opted_out"]) == (2, 1, 1)
    assert {(r["line"], r["reason"]) for r in load["skipped_rows"]} == {
        (3, "invalid_number"),
        (5, "missing_variable"),
        (6, "opted_out"),
        (7, "bad_row"),
    }
    assert seen["shown"]["counts"] == {"scheduled": 2}
    assert outbox.enqueued == []  # nothing is queued before the campaign starts


def test_a_non_csv_or_a_csv_without_to_is_refused_and_stores_nothing(store: MessageStore) -> None:
    outbox = RecordingOutbox()
    answers: list[tuple[int, str]] = []

    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        campaign = await _create(client, key)
        good = _csv([["to", "first_name"], ["+447400123456", "Ann"]])
        assert (await _upload(client, key, campaign["id"], good))[0] == 200
        for body in (
            _csv([["phone", "first_name"], ["+447400123456", "Ann"]]),  # no `to` column
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe",  # an image
            _csv([["to", "first_name"], ["+447400123457", "Bo"]]).encode() + b"\xff\xfe\n",
            _csv([["to", "nick"], ["+447400123457", "Bo"]]),  # template needs first_name
            b"",
        ):
            status, problem = await _upload(client, key, campaign["id"], body)
            answers.append((status, problem["code"]))
        response = await client.put(
            f"/v1/campaigns/{campaign['id']}/audience",
            json={"to": "+447400123456"},
            headers=_auth(key),
        )
        answers.append((response.status, (await response.json())["code"]))

    run(store, outbox, scenario)
    assert answers == [
        (422, "audience_missing_to"),
        (422, "audience_not_csv"),
        (422, "audience_not_csv"),
        (422, "template_unknown_variable"),
        (422, "audience_not_csv"),
        (422, "audience_not_csv"),
    ]
    # The first, good upload is what is stored: every refused one was rolled back whole.
    assert store.status_counts() == {"scheduled": 1}


def test_a_template_with_a_variable_no_recipient_has_is_refused_at_creation(
    store: MessageStore,
) -> None:
    outbox = RecordingOutbox()
    answers: list[tuple[int, dict[str, Any]]] = []

    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        for template in ("Hi {{first_name}}", "Hi {first_name}", "  "):
            response = await client.post(
                "/v1/campaigns",
                json={"template": template, "audience": [{"to": UK, "name": "Ann"}]},
                headers=_auth(key),
            )
            answers.append((response.status, await response.json()))

    run(store, outbox, scenario)
    assert [(s, p["code"]) for s, p in answers] == [
        (422, "template_unknown_variable"),
        (422, "template_invalid"),
        (422, "template_invalid"),
    ]
    assert "first_name" in answers[0][1]["detail"]
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM campaigns").scalar() == 0


def test_quiet_hours_send_each_number_inside_its_own_local_window(store: MessageStore) -> None:
    """A US (New York), an Indian and a UK number, 09:00-20:00 local, in one campaign."""
    outbox = RecordingOutbox()
    ids: dict[str, str] = {}

    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        campaign = await _create(
            client,
            key,
            template="Sale today",
            audience=[US, INDIA, UK],
            send_window={"start": "09:00", "end": "20:00"},
            start_at="2026-11-23T00:00:00Z",
        )
        ids["campaign"] = campaign["id"]
        assert (await _act(client, key, campaign["id"], "start")).status == 200

    run(store, outbox, scenario)
    released: dict[str, set[str]] = {}
    # Winter: New York is UTC-5, India UTC+5:30, London UTC+0.
    for instant in (
        "2026-11-24T02:00:00Z",  # NY 21:00, India 07:30, UK 02:00: nobody
        "2026-11-24T04:00:00Z",  # India 09:30
        "2026-11-24T09:30:00Z",  # UK 09:30 (India 15:00 already sent)
        "2026-11-24T13:30:00Z",  # NY 08:30: not yet
        "2026-11-24T14:00:00Z",  # NY 09:00
    ):
        with freeze_time(instant):
            _release(store, outbox)
            released[instant[11:16]] = set(_queued_numbers(store))
    assert released == {
        "02:00": set(),
        "04:00": {INDIA},
        "09:30": {INDIA, UK},
        "13:30": {INDIA, UK},
        "14:00": {INDIA, UK, US},
    }
    record = CampaignStore(store.engine).get(store.ensure_account("acme", NOW), ids["campaign"])
    assert record is not None and record.state == "completed"


def test_pause_holds_the_next_slice_resume_goes_on_and_cancel_leaves_nothing_to_send(
    store: MessageStore,
) -> None:
    outbox = RecordingOutbox()
    answers: dict[str, Any] = {}
    numbers = [f"+4474001{i:05d}" for i in range(400)]

    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        campaign = await _create(client, key, template="Sale", audience=numbers, max_rate=50)
        cid = answers["id"] = campaign["id"]
        answers["resume_draft"] = await (await _act(client, key, cid, "resume")).json()
        assert (await _act(client, key, cid, "start")).status == 200
        answers["start_twice"] = (await _act(client, key, cid, "start")).status
        _release(store, outbox, NOW)  # 50/s x 2 s slice: 100 queued
        answers["after_first"] = len(_queued_numbers(store))
        assert (await _act(client, key, cid, "pause")).status == 200
        _release(store, outbox, NOW.replace(second=2))
        answers["after_paused_slice"] = len(_queued_numbers(store))
        assert (await _act(client, key, cid, "resume")).status == 200
        _release(store, outbox, NOW.replace(second=4))
        answers["after_resume"] = len(_queued_numbers(store))
        cancel = await _act(client, key, cid, "cancel")
        answers["cancel"] = await cancel.json()
        _release(store, outbox, NOW.replace(second=6))
        answers["cancel_again"] = (await _act(client, key, cid, "cancel")).status
        shown = await client.get(f"/v1/campaigns/{cid}", headers=_auth(key))
        answers["shown"] = await shown.json()

    run(store, outbox, scenario)
    assert answers["resume_draft"]["code"] == "campaign_state_conflict"
    assert answers["start_twice"] == 409 and answers["cancel_again"] == 409
    assert answers["after_first"] == 100
    assert answers["after_paused_slice"] == 100
    assert answers["after_resume"] == 300  # 4 s since the last slice: two slices' worth
    assert answers["cancel"]["state"] == "canceled"
    assert answers["cancel"]["canceled_messages"] == 400  # 300 queued + 100 scheduled
    assert answers["shown"]["counts"] == {"canceled": 400}
    assert store.status_counts() == {"canceled": 400}  # no queued row a worker could claim


def test_a_max_rate_under_one_slice_of_whole_messages_is_kept_over_the_slices(
    store: MessageStore,
) -> None:
    outbox = RecordingOutbox()
    queued: list[int] = []
    numbers = [f"+4474002{i:05d}" for i in range(40)]

    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        campaign = await _create(client, key, template="Sale", audience=numbers, max_rate=1.25)
        assert (await _act(client, key, campaign["id"], "start")).status == 200
        for n in range(8):  # 2 s slices: 2.5 messages each
            _release(store, outbox, NOW + timedelta(seconds=2 * n))
            queued.append(len(_queued_numbers(store)))

    run(store, outbox, scenario)
    # the half message of each slice is carried, not rounded away (that gave 2 a slice: 16)
    assert queued == [2, 5, 7, 10, 12, 15, 17, 20]


def test_a_stop_after_the_upload_rejects_the_number_in_the_next_slice(store: MessageStore) -> None:
    outbox = RecordingOutbox()
    report: list[dict[str, str]] = []

    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        campaign = await _create(client, key, template="Sale", audience=[US, UK])
        await _act(client, key, campaign["id"], "start")
        store.add_opt_out(store.ensure_account("acme", NOW), UK, NOW)
        _release(store, outbox, NOW)
        response = await client.get(
            f"/v1/campaigns/{campaign['id']}/report.csv", headers=_auth(key)
        )
        assert response.status == 200 and response.content_type == "text/csv"
        report.extend(csv.DictReader(io.StringIO(await response.text())))

    run(store, outbox, scenario)
    assert [(r["line"], r["to"], r["status"], r["error_code"]) for r in report] == [
        ("1", US, "queued", ""),
        ("2", UK, "rejected", "recipient_opted_out"),
    ]
    assert [ids for _, ids in outbox.enqueued] == [[report[0]["message_id"]]]


def test_running_campaigns_share_a_slice_fairly_and_keep_the_queue_short(
    store: MessageStore,
) -> None:
    outbox = RecordingOutbox()

    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        big = await _create(
            client, key, template="A", audience=[f"+4474001{i:05d}" for i in range(900)]
        )
        small = await _create(
            client, key, template="B", audience=[f"+4474002{i:05d}" for i in range(40)]
        )
        for c in (big, small):
            await _act(client, key, c["id"], "start")
        _release(store, outbox, NOW)  # 80 MPS x 4 s lookahead = 320
        assert store.status_counts() == {"queued": 320, "scheduled": 620}
        _release(store, outbox, NOW.replace(second=2))  # the queue is full: nothing more
        assert store.status_counts()["queued"] == 320

    run(store, outbox, scenario)
    sizes = sorted(len(ids) for _, ids in outbox.enqueued)
    assert sum(sizes) == 320 and 40 in sizes  # the small one got all it had, the big the rest


def test_messages_waiting_out_a_retry_backoff_do_not_hold_the_next_slice_back(
    store: MessageStore,
) -> None:
    """The carriers failed most of a slice a moment ago and those messages wait out their
    backoff: the carriers are not busy with them, so the next slice tops the queue up with
    messages they can take now."""
    outbox = RecordingOutbox()

    async def scenario(client: TestClient[Any, Any], key: str) -> None:
        campaign = await _create(
            client, key, template="A", audience=[f"+4474001{i:05d}" for i in range(900)]
        )
        await _act(client, key, campaign["id"], "start")
        assert _release(store, outbox, NOW) == 320  # 80 MPS x 4 s lookahead
        backoff = NOW + timedelta(minutes=1)
        waiting = select(Message.id).where(Message.status == "queued").limit(300)
        with store.engine.begin() as conn:
            conn.execute(
                update(Message).where(Message.id.in_(waiting)).values(next_attempt_at=backoff)
            )
        # 20 due in the queue: the slice releases 300 more, not nothing.
        assert _release(store, outbox, NOW.replace(second=2)) == 300
        assert store.status_counts() == {"queued": 620, "scheduled": 280}

    run(store, outbox, scenario)
