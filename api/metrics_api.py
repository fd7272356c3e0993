"""HTTP metrics (a middleware: requests by route template and status, latency) and `GET
/metrics` for an admin key: this API family's counters plus the cluster's live figures."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from api.contract import Answer, Operation, operation
from api.problems import ApiProblem
from api.services import OWNER, SERVICES
from metrics import OTP_CHECKS, OTP_SENDS, count_otp, http_observer, render
from metrics.exposition import CONTENT_TYPE

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_observe = http_observer()
EXPOSITION_MEDIA_TYPE = CONTENT_TYPE.removesuffix("; charset=utf-8")  # the document's key
_OTP_SENDING = {"start_verification", "resend_verification"}


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count every answered request by route template (not path: ids would explode the labels)."""
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        _observe(route, request.method, status, time.perf_counter() - started)


def count_otp_refusal(handler_name: str, code: str) -> None:
    """An OTP request refused with a problem `code`, counted as a send or a check."""
    if handler_name in _OTP_SENDING:
        count_otp(OTP_SENDS, code)
    elif handler_name == "check_verification":
        count_otp(OTP_CHECKS, code)


@operation(
    Operation(
        "Prometheus metrics of this API family and the cluster's live gauges",
        answers={
            200: Answer(
                "Prometheus text exposition format 0.0.4", str, content_type=EXPOSITION_MEDIA_TYPE
            )
        },
        admin=True,
        tag="operations",
    )
)
async def metrics_endpoint(request: web.Request) -> web.Response:
    """GET /metrics (admin key): Prometheus text format, read now."""
    if not request[OWNER].is_admin:
        raise ApiProblem(403, "admin_required", "Forbidden", "/metrics needs an admin API key")
    services = request.app[SERVICES]
    body = await asyncio.get_running_loop().run_in_executor(
        None, render, services.metrics_dir, services.live_collectors
    )
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})
