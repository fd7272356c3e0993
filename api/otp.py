"""The OTP API: send and check codes (`/v1/otp`), and the pumping-guard admin endpoints.

Policy lives in the pure `otp` package and the limits in conditional UPDATEs of `OtpStore`;
these handlers only order the steps. Refusals that cost nothing (geo, blocked prefix, velocity)
come before anything is written. The code itself is never logged nor returned: only its
HMAC is stored, and the SMS is an ordinary `otp`-class message row committed through the
group committer, so it rides the otp queue and the `quality` route.

When Redis is unreachable the velocity windows fail OPEN (counted in `windows.failures`):
the per-verification limits (5 checks, 5 sends, cooldown) live in the database and still
hold; only the per-number/per-account hourly caps lapse until Redis is back.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar, cast

from aiohttp import web

from api.accept import json_body
from api.committer import GroupCommitter
from api.contract import Answer, Link, Operation, operation
from api.idempotency import HeldKey, claim
from api.jsonio import json_response
from api.metrics_api import count_otp_refusal
from api.otp_guard import PumpingGuard, as_block
from api.otp_schemas import CodeBody, StartBody, parse_code, parse_start
from api.problems import ApiProblem, problem_response
from api.services import OWNER
from api.wire import BlockList, CheckAnswer, VerificationJson
from messaging import RateLimited, segment
from metrics import OTP_CHECKS, OTP_SENDS, OTP_STARTED, count_otp
from otp import (
    DestinationBlocked,
    GeoNotPermitted,
    OtpConfig,
    OtpError,
    OtpLimits,
    OtpNotFound,
    OtpText,
    OtpVelocityLimited,
    Verification,
    VerificationStatus,
    admit_cancel,
    admit_check,
    admit_resend,
    code_matches,
    generate_code,
    hash_code,
    prefix_of,
    render,
)
from ratelimit import WindowCounters
from store import KeyCompletion, KeyOwner, NewMessage, new_id
from store.otp_repository import NewVerification, OtpStore, VerificationRecord

log = logging.getLogger(__name__)
T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.Response]]

# OTP error class → (HTTP status, title). RateLimited subclasses go to the app's middleware (429).
OTP_STATUS: dict[type[OtpError], tuple[int, str]] = {
    OtpNotFound: (404, "Verification not found"),
    DestinationBlocked: (403, "Destination blocked"),
    GeoNotPermitted: (403, "Country not permitted"),
    OtpError: (409, "Verification not in a state for this"),
}
# OtpExpired is 410 Gone: the verification existed and will never work again.
_GONE = {"otp_expired"}
HOUR = 3600.0


@dataclass
class OtpServices:
    """What the OTP handlers use; built by the composition root."""

    store: OtpStore
    committer: GroupCommitter
    windows: WindowCounters
    clock: Callable[[], datetime]
    secret: bytes
    config: OtpConfig = field(default_factory=OtpConfig)
    app_name: str = "Switchboard"
    sender: str = "Verify"
    block_refresh_seconds: float = 2.0
    metrics: Counter[str] = field(default_factory=Counter)
    guard: PumpingGuard = field(init=False)

    def __post_init__(self) -> None:
        self.guard = PumpingGuard(
            self.store, self.config.pumping, self.metrics, self.block_refresh_seconds
        )


OTP_SERVICES = web.AppKey("otp_services", OtpServices)


def _verification(r: VerificationRecord) -> Verification:
    return Verification(
        id=r.id,
        account_id=r.account_id,
        to=r.to,
        status=VerificationStatus(r.status),
        code_hash=r.code_hash,
        check_attempts=r.check_attempts,
        max_checks=r.max_checks,
        sends=r.sends,
        max_sends=r.max_sends,
        created_at=r.created_at,
        expires_at=r.expires_at,
        last_sent_at=r.last_sent_at,
        message_id=r.message_id,
        approved_at=r.approved_at,
    )


def _text(r: VerificationRecord) -> OtpText:
    return OtpText(r.locale, r.template, r.web_otp_domain, r.allow_unicode)


async def _io(fn: Callable[..., T], *args: Any) -> T:
    """Run blocking store or Redis work off the event loop."""
    return await asyncio.get_running_loop().run_in_executor(None, partial(fn, *args))


def _otp_errors(handler: Handler) -> Handler:
    """Map OTP errors to problem+json (RateLimited ones are left to the app's middleware)."""

    async def wrapped(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except OtpError as error:
            status, title = next(OTP_STATUS[c] for c in type(error).__mro__ if c in OTP_STATUS)
            if error.code in _GONE:
                status, title = 410, "Verification expired"
            request.app[OTP_SERVICES].metrics[f"otp_refused_{error.code}"] += 1
            count_otp_refusal(handler.__name__, error.code)
            return problem_response(status, error.code, title, str(error))
        except RateLimited as error:
            request.app[OTP_SERVICES].metrics[f"otp_refused_{error.code}"] += 1
            count_otp_refusal(handler.__name__, error.code)
            raise

    return wrapped


# -- the steps -----------------------------------------------------------------------------------


def _hit_all(counters: WindowCounters, hits: list[tuple[str, int, float]], detail: str) -> None:
    """Count a hit on each window; refuse with the longest wait if any is full."""
    refused = [r for key, limit, span in hits if not (r := counters.hit(key, limit, span)).allowed]
    if refused:
        raise OtpVelocityLimited(max(r.retry_after for r in refused), detail)


def _send_hits(account_id: str, to: str, limits: OtpLimits) -> list[tuple[str, int, float]]:
    return [
        (f"otp:send:n:{account_id}:{to}", limits.sends_per_number_per_hour, HOUR),
        (f"otp:send:a:{account_id}", limits.sends_per_account_per_hour, HOUR),
    ]


# What an Idempotency-Key's answer is, given the verification the SMS is sent for (api/idempotency)
Completion = Callable[[VerificationRecord, bool], KeyCompletion | None]


def _no_key(_record: VerificationRecord, _new: bool) -> KeyCompletion | None:
    return None


async def _send_sms(
    services: OtpServices,
    owner: KeyOwner,
    r: VerificationRecord,
    code: str,
    key: KeyCompletion | None = None,
) -> None:
    now = r.last_sent_at
    ttl = int((r.expires_at - r.created_at).total_seconds())
    body = render(_text(r), code, services.app_name, ttl)
    seg = segment(body)
    row = NewMessage(
        id=r.message_id,
        account_id=owner.account_id,
        to=r.to,
        sender=services.sender,
        body=body,
        message_class="otp",
        encoding=seg.encoding.value,
        segments=seg.segments,
        callback_url=None,
        created_at=now,
        valid_until=r.expires_at,
    )
    await services.committer.commit(row, key)  # the key's answer in the SMS's transaction
    services.metrics["otp_sent_total"] += 1
    count_otp(OTP_SENDS, "sent")


def _json(v: Verification, now: datetime) -> VerificationJson:
    return {
        "id": v.id,
        "status": v.status_at(now).value,
        "to": v.to,
        "channel": "sms",
        "attempts_left": v.attempts_left,
        "sends_left": v.sends_left,
        "created_at": v.created_at,
        "expires_at": v.expires_at,
        "approved_at": v.approved_at,
        "message_id": v.message_id,
    }


async def _resend(
    services: OtpServices,
    owner: KeyOwner,
    current: VerificationRecord,
    limits: OtpLimits,
    completion: Completion = _no_key,
) -> VerificationRecord:
    now = services.clock()
    admit_resend(_verification(current), now, limits.resend_cooldown)
    await _io(
        _hit_all,
        services.windows,
        _send_hits(owner.account_id, current.to, limits),
        "too many OTP sends",
    )
    code = generate_code(current.code_length)
    updated = await _io(
        services.store.resend,
        owner.account_id,
        current.id,
        hash_code(services.secret, current.id, code),
        new_id(),
        now,
        limits.resend_cooldown,
    )
    if updated is None:  # lost a race: say precisely why, from the row as it is now
        latest = await _io(services.store.get, owner.account_id, current.id)
        if latest is None:
            raise OtpNotFound(f"no verification {current.id!r}")
        admit_resend(_verification(latest), now, limits.resend_cooldown)
        raise OtpVelocityLimited(1.0, "a concurrent resend won; try again")
    await _send_sms(services, owner, updated, code, completion(updated, False))
    _assess_later(services, prefix_of(updated.to, services.config.pumping.prefix_digits), now)
    return updated


_NOT_FOUND = {404: ("otp_not_found",)}
_STATE = {409: ("otp_not_pending", "otp_already_used", "otp_error"), 410: ("otp_expired",)}
_SEND_LIMITS = {429: ("otp_velocity_limited", "otp_max_sends", "otp_resend_cooldown")}


@operation(
    Operation(
        "Start a verification: a code by SMS (a pending one to the number is resent)",
        {
            201: Answer(
                "the verification (`new`: false when resent)",
                VerificationJson,
                ("Location",),
                links=(
                    Link("Get", "get_v1_otp_id"),
                    Link("Check", "post_v1_otp_id_check"),
                    Link("Resend", "post_v1_otp_id_resend"),
                    Link("Cancel", "post_v1_otp_id_cancel"),
                ),
            )
        },
        {
            403: ("destination_blocked", "geo_not_permitted"),
            422: ("invalid_number",),
            **_SEND_LIMITS,
            **_STATE,
        },
        body=StartBody,
        idempotent=True,
        tag="otp",
    )
)
@_otp_errors
async def start_verification(request: web.Request) -> web.Response:
    """POST /v1/otp → 201 with a pending verification (an existing pending one is resent)."""
    services = request.app[OTP_SERVICES]
    owner: KeyOwner = request[OWNER]
    body = await json_body(request)
    held = await claim(request, owner, body, services.clock())
    if isinstance(held, web.Response):
        return held  # the first answer to this Idempotency-Key: no second code is sent
    try:
        return await _start(services, owner, body, held)
    except BaseException:
        if held is not None:  # nothing was sent: the key may be used again
            await held.release()
        raise


async def _start(
    services: OtpServices, owner: KeyOwner, body: Any, held: HeldKey | None
) -> web.Response:
    limits = services.config.limits_for(owner.account_name)
    parsed = parse_start(body, limits)
    to = parsed.to
    if not limits.permits(to.region):
        raise GeoNotPermitted(to.region, f"this account may not send OTPs to {to.region}")
    now = services.clock()
    prefix = prefix_of(to.e164, services.config.pumping.prefix_digits)
    block = await _io(services.guard.blocked, prefix, now)
    if block is not None:
        raise DestinationBlocked(
            prefix, f"{prefix} is blocked until {block.until.isoformat()}: {block.reason}"
        )

    def completion(record: VerificationRecord, new: bool) -> KeyCompletion | None:
        if held is None:
            return None
        answer = _created(services, record, now, new)
        return held.completion(201, cast(bytes, answer.body), f"/v1/otp/{record.id}")

    for _ in range(3):
        existing = await _io(services.store.pending_for, owner.account_id, to.e164, now)
        if existing is not None:
            resent = await _resend(services, owner, existing, limits, completion)
            return _created(services, resent, now, new=False)
        await _io(
            _hit_all,
            services.windows,
            _send_hits(owner.account_id, to.e164, limits),
            "too many OTP sends",
        )
        code = generate_code(parsed.code_length)
        vid = new_id()
        new = NewVerification(
            id=vid,
            account_id=owner.account_id,
            to=to.e164,
            prefix=prefix,
            region=to.region,
            code_hash=hash_code(services.secret, vid, code),
            max_checks=limits.max_checks,
            max_sends=limits.max_sends,
            message_id=new_id(),
            created_at=now,
            expires_at=now + timedelta(seconds=parsed.ttl),
            code_length=parsed.code_length,
            locale=parsed.text.locale,
            template=parsed.text.template,
            web_otp_domain=parsed.text.web_otp_domain,
            allow_unicode=parsed.text.allow_unicode,
        )
        record = await _io(services.store.insert, new)
        if record is not None:
            await _send_sms(services, owner, record, code, completion(record, True))
            _assess_later(services, prefix, now)
            return _created(services, record, now, new=True)
    raise OtpVelocityLimited(1.0, "concurrent requests for this number; try again")


def _created(
    services: OtpServices, r: VerificationRecord, now: datetime, new: bool
) -> web.Response:
    body = _json(_verification(r), now)
    body["new"] = new
    if new:
        count_otp(OTP_STARTED, "sms")
    return json_response(body, status=201, headers={"Location": f"/v1/otp/{r.id}"})


def _assess_later(services: OtpServices, prefix: str, now: datetime) -> None:
    """Assess the prefix off the request path: the 201 does not wait for the guard's query."""
    future = asyncio.get_running_loop().run_in_executor(
        None, services.guard.assess_after_send, prefix, now
    )

    def _done(f: asyncio.Future[bool]) -> None:
        if not f.cancelled() and f.exception() is not None:
            log.error("pumping assessment of %s failed: %s", prefix, f.exception())

    future.add_done_callback(_done)


async def _owned(
    services: OtpServices, owner: KeyOwner, verification_id: str
) -> VerificationRecord:
    record = await _io(services.store.get, owner.account_id, verification_id)
    if record is None:
        raise OtpNotFound(f"no verification {verification_id!r}")
    return record


@operation(
    Operation(
        "Check a code: approved exactly once",
        {200: Answer("the verification's status", CheckAnswer)},
        {**_NOT_FOUND, **_STATE, 429: ("otp_velocity_limited", "otp_max_attempts")},
        body=CodeBody,
        tag="otp",
    )
)
@_otp_errors
async def check_verification(request: web.Request) -> web.Response:
    """POST /v1/otp/{id}/check → {status, attempts_left}; approved exactly once."""
    services = request.app[OTP_SERVICES]
    owner: KeyOwner = request[OWNER]
    code = parse_code(await json_body(request))
    record = await _owned(services, owner, request.match_info["id"])
    now = services.clock()
    limits = services.config.limits_for(owner.account_name)
    early = admit_check(_verification(record), now)
    if early is not None:
        return json_response(
            {"id": record.id, "status": early.status.value, "attempts_left": early.attempts_left}
        )
    # Brute force across many verifications to one number is capped here, per hour.
    brute = [
        (f"otp:check:n:{owner.account_id}:{record.to}", limits.checks_per_number_per_hour, HOUR)
    ]
    await _io(_hit_all, services.windows, brute, "too many OTP checks for this number")
    counted = await _io(services.store.count_check, owner.account_id, record.id, now)
    if counted is None:  # not admitted any more: answer from the row as it is now
        latest = await _owned(services, owner, record.id)
        answer = admit_check(_verification(latest), now)
        status, left = (
            (answer.status, answer.attempts_left) if answer else (VerificationStatus.PENDING, 0)
        )
        return json_response({"id": record.id, "status": status.value, "attempts_left": left})
    status = VerificationStatus.PENDING
    if code_matches(services.secret, counted.id, code, counted.code_hash):
        if await _io(
            services.store.approve, counted.id, counted.code_hash, now, counted.message_id, code
        ):
            status = VerificationStatus.APPROVED
            services.metrics["otp_approved_total"] += 1
            count_otp(OTP_CHECKS, "approved")
        else:
            latest = await _owned(services, owner, record.id)
            answer = admit_check(_verification(latest), now)  # raises OtpAlreadyUsed when approved
            status = answer.status if answer else VerificationStatus.PENDING
    else:
        services.metrics["otp_wrong_code_total"] += 1
        count_otp(OTP_CHECKS, "wrong_code")
    left = max(0, counted.max_checks - counted.check_attempts)
    return json_response({"id": counted.id, "status": status.value, "attempts_left": left})


@operation(
    Operation(
        "Send a fresh code to the same number (the old one stops working)",
        {200: Answer("the verification", VerificationJson)},
        {**_NOT_FOUND, **_STATE, **_SEND_LIMITS},
        tag="otp",
    )
)
@_otp_errors
async def resend_verification(request: web.Request) -> web.Response:
    """POST /v1/otp/{id}/resend → a fresh code to the same number (the old one stops working)."""
    services = request.app[OTP_SERVICES]
    owner: KeyOwner = request[OWNER]
    record = await _owned(services, owner, request.match_info["id"])
    limits = services.config.limits_for(owner.account_name)
    resent = await _resend(services, owner, record, limits)
    return json_response(_json(_verification(resent), services.clock()))


@operation(
    Operation(
        "Cancel a verification (idempotent; not once approved)",
        {200: Answer("the verification", VerificationJson)},
        {**_NOT_FOUND, **_STATE},
        tag="otp",
    )
)
@_otp_errors
async def cancel_verification(request: web.Request) -> web.Response:
    """POST /v1/otp/{id}/cancel → canceled (idempotent); an approved one cannot be canceled."""
    services = request.app[OTP_SERVICES]
    owner: KeyOwner = request[OWNER]
    record = await _owned(services, owner, request.match_info["id"])
    now = services.clock()
    if admit_cancel(_verification(record), now) and not await _io(
        services.store.cancel, owner.account_id, record.id, now
    ):
        record = await _owned(services, owner, record.id)
        admit_cancel(_verification(record), now)  # raises when it was approved or expired meanwhile
    record = await _owned(services, owner, record.id)
    return json_response(_json(_verification(record), now))


@operation(
    Operation(
        "A verification (never its code)",
        {200: Answer("the verification", VerificationJson)},
        _NOT_FOUND,
        tag="otp",
    )
)
@_otp_errors
async def get_verification(request: web.Request) -> web.Response:
    """GET /v1/otp/{id} → the verification (never its code)."""
    services = request.app[OTP_SERVICES]
    owner: KeyOwner = request[OWNER]
    record = await _owned(services, owner, request.match_info["id"])
    return json_response(_json(_verification(record), services.clock()))


@operation(
    Operation(
        "Active SMS-pumping blocks and the guard's counters (admin)",
        {200: Answer("the blocks", BlockList)},
        admin=True,
        tag="otp",
    )
)
async def list_blocks(request: web.Request) -> web.Response:
    """GET /v1/admin/otp/blocks → active pumping blocks and the guard's counters."""
    services = request.app[OTP_SERVICES]
    now = services.clock()
    records = await _io(services.store.blocks)
    active = [b for b in map(as_block, records) if b.active(now)]
    body: BlockList = {
        "blocks": [
            {
                "prefix": b.prefix,
                "blocked_at": b.blocked_at,
                "until": b.until,
                "reason": b.reason,
            }
            for b in active
        ],
        "metrics": dict(services.metrics),
    }
    return json_response(body)


@operation(
    Operation(
        "Lift the pumping block on a prefix (admin)",
        {204: Answer("lifted")},
        {404: ("block_not_found",)},
        admin=True,
        tag="otp",
    )
)
async def lift_block(request: web.Request) -> web.Response:
    """DELETE /v1/admin/otp/blocks/{prefix} → 204 once the block is lifted."""
    services = request.app[OTP_SERVICES]
    raw = request.match_info["prefix"].strip()
    prefix = raw if raw.startswith("+") else "+" + raw
    if not await _io(services.guard.lift, prefix, services.clock()):
        raise ApiProblem(404, "block_not_found", "Not found", f"no active block on {prefix!r}")
    services.metrics["otp_pumping_lifts_total"] += 1
    return web.Response(status=204)


def add_otp_routes(app: web.Application, services: OtpServices) -> None:
    """Mount the OTP endpoints on `app` (behind its auth and problem middlewares)."""
    app[OTP_SERVICES] = services
    app.router.add_post("/v1/otp", start_verification)
    app.router.add_get("/v1/otp/{id}", get_verification)
    app.router.add_post("/v1/otp/{id}/check", check_verification)
    app.router.add_post("/v1/otp/{id}/resend", resend_verification)
    app.router.add_post("/v1/otp/{id}/cancel", cancel_verification)
    app.router.add_get("/v1/admin/otp/blocks", list_blocks)
    app.router.add_delete("/v1/admin/otp/blocks/{prefix}", lift_block)
