"""POST /v1/campaigns, PUT …/audience (CSV), POST …/start|pause|resume|cancel, GET status and
GET …/report.csv: the campaign endpoints.

The rules are `campaigns` (pure); the rows are `store.CampaignStore`; the release is the
sweeper's (`workers.campaign_release`). Uploads and reports stream through threads of their
own (`CAMPAIGN_POOL`), so a million-row CSV neither holds the read pool nor the memory.
"""

from __future__ import annotations

import asyncio
import queue
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import partial
from typing import Any

from aiohttp import web

from api.accept import json_body
from api.campaign_schemas import CampaignRequest, parse_campaign_request
from api.campaign_streams import (
    QUEUE_CHUNKS,
    UPLOAD_CHUNK,
    feed,
    load_csv,
    load_rows,
    produce,
    report_chunks,
)
from api.campaign_wire import AudienceLoadJson, CampaignBody, CampaignJson
from api.contract import Answer, Link, Operation, operation
from api.jsonio import json_response
from api.problems import ApiProblem
from api.services import OWNER, SERVICES
from campaigns import (
    AudienceNotCsv,
    CampaignAction,
    CampaignState,
    CampaignStateConflict,
    Template,
    next_state,
)
from store import (
    AudienceTotals,
    CampaignProgress,
    CampaignRecord,
    CampaignStore,
    KeyOwner,
    NewCampaign,
    new_id,
)

CAMPAIGN_POOL = web.AppKey("campaign_pool", ThreadPoolExecutor)
CAMPAIGNS = web.AppKey("campaigns", CampaignStore)
CSV_TYPES = {"text/csv", "application/csv", "text/plain", "application/octet-stream", ""}
_IN_FLIGHT = ("scheduled", "queued", "sending")


def _not_found(campaign_id: str) -> ApiProblem:
    return ApiProblem(404, "not_found", "Not found", f"no campaign {campaign_id!r}")


async def _run(request: web.Request, call: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(request.app[CAMPAIGN_POOL], call)


async def _own_campaign(request: web.Request) -> CampaignRecord:
    """The caller's campaign `{id}`, or 404."""
    owner: KeyOwner = request[OWNER]
    campaign_id = request.match_info["id"]
    store = request.app[CAMPAIGNS]
    record: CampaignRecord | None = await _run(
        request, partial(store.get, owner.account_id, campaign_id)
    )
    if record is None:
        raise _not_found(campaign_id)
    return record


def audience_json(totals: AudienceTotals) -> AudienceLoadJson:
    """What an audience load stored and skipped (the first skipped rows by line)."""
    return {
        "recipients": totals.recipients,
        "duplicates": totals.duplicates,
        "opted_out": totals.opted_out,
        "skipped": totals.skipped,
        "skipped_rows": [
            {"line": s.line, "to": s.number, "reason": s.reason, "detail": s.detail}
            for s in totals.first_skips
        ],
    }


def campaign_json(
    c: CampaignRecord, progress: CampaignProgress | None = None, now: datetime | None = None
) -> CampaignJson:
    """A campaign, with its live counts when `progress` is given."""
    body: CampaignJson = {
        "id": c.id,
        "name": c.name,
        "state": c.state,
        "from": c.sender,
        "class": c.message_class,
        "template": c.template,
        "start_at": c.start_at,
        "max_rate": c.max_rate,
        "send_window": c.send_window,
        "audience": {
            "recipients": c.recipients,
            "duplicates": c.duplicates,
            "skipped": c.skipped,
            "opted_out": c.opted_out,
        },
        "created_at": c.created_at,
        "started_at": c.started_at,
        "finished_at": c.finished_at,
    }
    if progress is not None:
        rate = progress.sent_last_minute / 60.0
        left = sum(progress.by_status.get(s, 0) for s in _IN_FLIGHT)
        pace = rate or (c.max_rate or 0.0)
        body["counts"] = progress.by_status
        body["send_rate"] = round(rate, 2)
        body["cost"] = str(progress.cost)
        body["currency"] = progress.currency
        body["remaining"] = left
        body["eta_seconds"] = round(left / pace) if pace and left else (0 if not left else None)
    return body


_CAMPAIGN_LINKS = (
    Link("GetCampaign", "get_v1_campaigns_id"),
    Link("LoadAudience", "put_v1_campaigns_id_audience"),
    Link("Act", "post_v1_campaigns_id_action"),
    Link("GetReport", "get_v1_campaigns_id_report_csv"),
)
_TEMPLATE = ("template_invalid", "template_unknown_variable")
_STATE = {409: ("campaign_state_conflict",)}


@operation(
    Operation(
        "Create a campaign (a draft; its audience as a list here, or as CSV later)",
        answers={
            201: Answer("the campaign", CampaignJson, headers=("Location",), links=_CAMPAIGN_LINKS)
        },
        problems={422: _TEMPLATE},
        body=CampaignBody,
        tag="campaigns",
    )
)
async def create_campaign(request: web.Request) -> web.Response:
    """POST /v1/campaigns → 201 with the draft (and its audience when given as a list)."""
    services = request.app[SERVICES]
    owner: KeyOwner = request[OWNER]
    now = services.clock()
    parsed = parse_campaign_request(await json_body(request), services.default_sender, now)
    store = request.app[CAMPAIGNS]
    campaign = NewCampaign(
        id=new_id(),
        account_id=owner.account_id,
        name=parsed.name,
        sender=parsed.sender,
        template=parsed.template.text,
        message_class=parsed.message_class.value,
        start_at=parsed.start_at,
        max_rate=parsed.max_rate,
        send_window=str(parsed.send_window) if parsed.send_window else None,
        validity_seconds=parsed.validity_seconds,
        created_at=now,
    )
    totals = await _run(request, partial(_create, store, campaign, parsed, owner.account_id, now))
    record = await _run(request, partial(store.get, owner.account_id, campaign.id))
    body = campaign_json(record)
    if totals is not None:
        body["audience_load"] = audience_json(totals)
    return json_response(body, status=201, headers={"Location": f"/v1/campaigns/{campaign.id}"})


def _create(
    store: CampaignStore,
    campaign: NewCampaign,
    parsed: CampaignRequest,
    account_id: str,
    now: datetime,
) -> AudienceTotals | None:
    store.create(campaign)
    if parsed.audience_header is None:
        return None
    load = store.audience_load(campaign.id, now)
    load.open(account_id)
    try:
        rows = ((i + 1, list(r)) for i, r in enumerate(parsed.audience_rows))
        return load_rows(load, parsed.template, parsed.audience_header, rows)
    except BaseException:
        load.abort()
        raise


@operation(
    Operation(
        "Load a campaign's audience (text/csv, streamed; the header names the columns, `to`"
        " required)",
        answers={200: Answer("loaded and skipped", AudienceLoadJson)},
        problems={
            **_STATE,
            422: ("audience_not_csv", "audience_missing_to", "template_unknown_variable"),
        },
        body=str,
        body_media="text/csv",
        tag="campaigns",
    )
)
async def put_audience(request: web.Request) -> web.Response:
    """PUT /v1/campaigns/{id}/audience (CSV, streamed) → what was stored and skipped."""
    services = request.app[SERVICES]
    owner: KeyOwner = request[OWNER]
    campaign_id = request.match_info["id"]
    store = request.app[CAMPAIGNS]
    record = await _own_campaign(request)  # first: another account's campaign is a 404
    if request.content_type.lower() not in CSV_TYPES:
        raise AudienceNotCsv("audience", f"Content-Type {request.content_type!r}: send text/csv")
    if record.state != CampaignState.DRAFT.value:
        raise CampaignStateConflict("load an audience into", record.state, ("draft",))
    chunks: queue.Queue[bytes] = queue.Queue(maxsize=QUEUE_CHUNKS)
    loader = request.app[CAMPAIGN_POOL].submit(
        _load_csv,
        store,
        campaign_id,
        owner.account_id,
        Template.parse(record.template),
        chunks,
        services.clock(),
    )
    try:
        await feed(request.content.iter_chunked(UPLOAD_CHUNK), chunks, loader)
    except BaseException:
        while not loader.done():  # the client went away: end the stream, the load aborts
            try:
                chunks.put_nowait(b"\xff")  # not UTF-8: refused, rolled back
                chunks.put_nowait(b"")
            except queue.Full:
                await asyncio.sleep(0.01)
        raise
    totals = await asyncio.wrap_future(loader)
    return json_response(audience_json(totals))


def _load_csv(
    store: CampaignStore,
    campaign_id: str,
    account_id: str,
    template: Template,
    chunks: queue.Queue[bytes],
    now: datetime,
) -> AudienceTotals:
    load = store.audience_load(campaign_id, now)
    state = load.open(account_id)
    try:
        if state is None:
            raise _not_found(campaign_id)
        if state != CampaignState.DRAFT.value:
            raise CampaignStateConflict("load an audience into", state, ("draft",))
        return load_csv(load, template, chunks)
    except BaseException:
        load.abort()
        raise


@operation(
    Operation(
        "Start, pause, resume or cancel a campaign (`{action}`)",
        answers={200: Answer("the campaign after", CampaignJson)},
        problems=_STATE,
        tag="campaigns",
    )
)
async def campaign_action(request: web.Request) -> web.Response:
    """POST /v1/campaigns/{id}/{start|pause|resume|cancel} → the campaign after; 409 when its
    state does not allow the action."""
    owner: KeyOwner = request[OWNER]
    campaign_id = request.match_info["id"]
    try:
        action = CampaignAction(request.match_info["action"])
    except ValueError:
        raise ApiProblem(404, "not_found", "Not found", "no such campaign action") from None
    store = request.app[CAMPAIGNS]

    def decide(state: str) -> str:
        return next_state(CampaignState(state), action).value

    now = request.app[SERVICES].clock()
    result = await _run(
        request, partial(store.transition, owner.account_id, campaign_id, decide, now)
    )
    if result is None:
        raise _not_found(campaign_id)
    record, taken_back = result
    body = campaign_json(record)
    if action is CampaignAction.CANCEL:
        body["canceled_messages"] = taken_back
    return json_response(body)


@operation(
    Operation(
        "A campaign's progress: counts by status, send rate, cost, ETA",
        answers={200: Answer("the campaign", CampaignJson)},
        tag="campaigns",
    )
)
async def get_campaign(request: web.Request) -> web.Response:
    """GET /v1/campaigns/{id} → the campaign with counts by status, rate, cost and ETA."""
    record = await _own_campaign(request)
    now = request.app[SERVICES].clock()
    progress = await _run(request, partial(request.app[CAMPAIGNS].progress, record.id, now))
    return json_response(campaign_json(record, progress, now))


@operation(
    Operation(
        "A campaign's report, one CSV row per audience line",
        answers={
            200: Answer(
                "line,to,status,error_code,carrier,cost,message_id", str, content_type="text/csv"
            )
        },
        tag="campaigns",
    )
)
async def get_report(request: web.Request) -> web.StreamResponse:
    """GET /v1/campaigns/{id}/report.csv → one row per audience line, streamed."""
    campaign_id = (await _own_campaign(request)).id
    store = request.app[CAMPAIGNS]
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="campaign-{campaign_id}.csv"',
        }
    )
    await response.prepare(request)
    chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=QUEUE_CHUNKS)
    stop = [False]
    loop = asyncio.get_running_loop()
    producer = request.app[CAMPAIGN_POOL].submit(
        produce, report_chunks(store.report(campaign_id)), chunks, stop
    )
    try:
        while True:
            chunk = await loop.run_in_executor(None, chunks.get)
            if chunk is None:
                break
            await response.write(chunk)
    finally:
        stop[0] = True
        await asyncio.wrap_future(producer)
    await response.write_eof()
    return response


def add_campaign_routes(app: web.Application, store: CampaignStore) -> None:
    """Register the campaign endpoints and their thread pool on `app`."""
    app[CAMPAIGNS] = store
    app[CAMPAIGN_POOL] = ThreadPoolExecutor(max_workers=4, thread_name_prefix="api-campaign")
    app.router.add_post("/v1/campaigns", create_campaign)
    app.router.add_put("/v1/campaigns/{id}/audience", put_audience)
    # The actions spelled out: POST to …/audience or …/report.csv is a 405, not a 404 from here
    # (and OPTIONS there does not advertise POST).
    actions = "|".join(a.value for a in CampaignAction)
    app.router.add_post(f"/v1/campaigns/{{id}}/{{action:{actions}}}", campaign_action)
    app.router.add_get("/v1/campaigns/{id}", get_campaign)
    app.router.add_get("/v1/campaigns/{id}/report.csv", get_report)

    async def _close(app: web.Application) -> None:
        app[CAMPAIGN_POOL].shutdown(wait=True)

    app.on_cleanup.append(_close)
