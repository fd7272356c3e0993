"""The control endpoint: `GET /stats`, `GET|POST /faults`, `POST /mo` (aiohttp)."""

from __future__ import annotations

from typing import Literal, Protocol

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from simulators.faults import Mode

ModeChoice = Literal["normal", "syserr", "silent", "down", "slow", "schedule"]


class Controllable(Protocol):
    """What the control endpoint needs from the simulator."""

    def stats(self) -> dict[str, dict[str, int]]:
        """Counters per carrier."""
        ...

    def faults(self) -> dict[str, dict[str, object]]:
        """Mode and limit per carrier."""
        ...

    def set_mps(self, carrier: str, mps: int, burst: int | None = None) -> None:
        """Change a carrier's limit live; KeyError for an unknown carrier."""
        ...

    def set_mode(self, carrier: str, mode: Mode | None) -> None:
        """Force a mode (None: back to the outage schedule); KeyError for an unknown carrier."""
        ...

    def drop_connections(self, carrier: str) -> int:
        """Close every connection of a carrier; how many. KeyError for an unknown carrier."""
        ...

    def restart_schedule(self, carrier: str) -> None:
        """Count a carrier's fault timeline from now; KeyError for an unknown carrier."""
        ...

    def inject_mo(self, carrier: str, source: str, destination: str, text: str) -> None:
        """Queue an MO message; KeyError for an unknown carrier, ValueError if too long."""
        ...


class Fault(BaseModel):
    """Body of POST /faults: any of a new limit, a mode, a one-off drop of all connections,
    a restart of the fault timeline (outage windows and bind losses count from now)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    carrier: str
    mps: int | None = Field(None, gt=0)
    burst: int | None = Field(None, gt=0)
    mode: ModeChoice | None = None
    drop: bool = False
    restart: bool = False

    @model_validator(mode="after")
    def _something(self) -> Fault:
        if self.mps is None and self.mode is None and not self.drop and not self.restart:
            raise ValueError("give at least one of mps, mode, drop, restart")
        if self.burst is not None and self.mps is None:
            raise ValueError("burst needs mps")
        return self


class MoRequest(BaseModel):
    """Body of POST /mo: a subscriber's message to one of our numbers or short codes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    carrier: str
    source: str = Field(min_length=1, max_length=20)  # §4.6.1: C-Octet String(21)
    destination: str = Field(min_length=1, max_length=20)
    text: str = Field(min_length=1)


SIMULATOR_KEY = web.AppKey("simulator", Controllable)


def _validation_detail(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
    )


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


async def get_faults(request: web.Request) -> web.Response:
    """Every carrier's mode and limit."""
    return web.json_response(request.app[SIMULATOR_KEY].faults())


async def post_faults(request: web.Request) -> web.Response:
    """Apply a fault to one carrier; answers its mode and limit afterwards."""
    try:
        fault = Fault.model_validate_json(await request.read())
    except ValidationError as exc:
        return _problem(400, "invalid fault", _validation_detail(exc))
    simulator = request.app[SIMULATOR_KEY]
    try:
        if fault.mps is not None:
            simulator.set_mps(fault.carrier, fault.mps, fault.burst)
        if fault.mode is not None:
            simulator.set_mode(
                fault.carrier, None if fault.mode == "schedule" else Mode(fault.mode)
            )
        if fault.restart:
            simulator.restart_schedule(fault.carrier)
        dropped = simulator.drop_connections(fault.carrier) if fault.drop else 0
    except KeyError:
        return _problem(404, "unknown carrier", f"no carrier {fault.carrier!r}")
    return web.json_response(
        {"carrier": fault.carrier, "dropped": dropped} | simulator.faults()[fault.carrier]
    )


async def post_mo(request: web.Request) -> web.Response:
    """Queue a mobile-originated message for the carrier's bound receivers."""
    try:
        mo = MoRequest.model_validate_json(await request.read())
    except ValidationError as exc:
        return _problem(400, "invalid MO", _validation_detail(exc))
    try:
        request.app[SIMULATOR_KEY].inject_mo(mo.carrier, mo.source, mo.destination, mo.text)
    except KeyError:
        return _problem(404, "unknown carrier", f"no carrier {mo.carrier!r}")
    except ValueError as exc:
        return _problem(400, "invalid MO", f"text: {exc}")
    return web.json_response({"queued": True}, status=202)


def make_app(simulator: Controllable) -> web.Application:
    """The control app for `simulator`."""
    app = web.Application()
    app[SIMULATOR_KEY] = simulator
    app.router.add_get("/stats", get_stats)
    app.router.add_get("/faults", get_faults)
    app.router.add_post("/faults", post_faults)
    app.router.add_post("/mo", post_mo)
    return app
