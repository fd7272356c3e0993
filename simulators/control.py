"""The control endpoint: `GET /stats`, `POST /faults` (aiohttp, stdlib JSON)."""

from __future__ import annotations

from typing import Protocol

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError


class Controllable(Protocol):
    """What the control endpoint needs from the simulator."""

    def stats(self) -> dict[str, dict[str, int]]:
        """Counters per carrier."""
        ...

    def set_mps(self, carrier: str, mps: int, burst: int | None = None) -> None:
        """Change a carrier's limit live; KeyError for an unknown carrier."""
        ...


class Fault(BaseModel):
    """Body of POST /faults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    carrier: str
    mps: int = Field(gt=0)
    burst: int | None = Field(None, gt=0)


SIMULATOR_KEY = web.AppKey("simulator", Controllable)


def _problem(status: int, title: str, detail: str) -> web.Response:
    """An RFC 9457 problem+json body."""
    return web.json_response(
        {"type": "about:blank", "title": title, "status": status, "detail": detail},
        status=status,
        content_type="application/problem+json",
    )


async def get_stats(request: web.Request) -> web.Response:
    """Every carrier's counters."""
    return web.json_response(request.app[SIMULATOR_KEY].stats())


async def post_faults(request: web.Request) -> web.Response:
    """Apply a fault (for now: a new MPS limit) to one carrier."""
    try:
        fault = Fault.model_validate_json(await request.read())
    except ValidationError as exc:
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        return _problem(400, "invalid fault", detail)
    try:
        request.app[SIMULATOR_KEY].set_mps(fault.carrier, fault.mps, fault.burst)
    except KeyError:
        return _problem(404, "unknown carrier", f"no carrier {fault.carrier!r}")
    return web.json_response({"carrier": fault.carrier, "mps": fault.mps, "burst": fault.burst})


def make_app(simulator: Controllable) -> web.Application:
    """The control app for `simulator`."""
    app = web.Application()
    app[SIMULATOR_KEY] = simulator
    app.router.add_get("/stats", get_stats)
    app.router.add_post("/faults", post_faults)
    return app
