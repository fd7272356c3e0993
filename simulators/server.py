"""The simulator: one asyncio SMPP server per simulated carrier, plus control and audit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

from aiohttp import web

from simulators.arrivals import ArrivalQueue
from simulators.audit import AuditLog
from simulators.carrier import CarrierRuntime
from simulators.control import make_app
from simulators.faults import Mode
from simulators.limiter import Clock
from simulators.mo import mobile_originated
from simulators.scenario import Scenario
from simulators.session import Session

log = logging.getLogger(__name__)

TICK = 0.01  # seconds between receipt pumps: the receipt-delay resolution
AUDIT_FLUSH_EVERY = 0.5  # seconds


class Simulator:
    """Plays every carrier of `scenario` on 127.0.0.1 (or `host`)."""

    def __init__(
        self,
        scenario: Scenario,
        host: str = "127.0.0.1",
        *,
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
    ) -> None:
        self.scenario = scenario
        self.host = host
        self.ports: dict[str, int] = {}
        self.control_port: int | None = None
        self.carriers = {
            c.name: CarrierRuntime(c, scenario.seed, clock, wall_clock) for c in scenario.carriers
        }
        self._clock = clock
        self._audit = (
            AuditLog(Path(scenario.audit_path), wall_clock) if scenario.audit_path else None
        )
        self._servers: list[asyncio.Server] = []
        self._sessions: set[Session] = set()
        # Every carrier's PDUs of one loop round, decided in kernel arrival order.
        self._arrivals = ArrivalQueue()
        self._ticker: asyncio.Task[None] | None = None
        self._control: web.AppRunner | None = None

    async def start(self) -> None:
        """Listen on every carrier's port (0 → ephemeral) and the control port, if any."""
        loop = asyncio.get_running_loop()
        if self._audit is not None:
            self._audit.open()
        try:
            for name, runtime in self.carriers.items():
                server = await loop.create_server(
                    lambda runtime=runtime: self._new_session(runtime),  # type: ignore[misc]
                    self.host,
                    runtime.config.port,
                    reuse_address=True,
                )
                self._servers.append(server)
                self.ports[name] = server.sockets[0].getsockname()[1]
            if self.scenario.control_port is not None:
                await self._start_control(self.scenario.control_port)
        except BaseException:
            await self.stop()
            raise
        now = self._clock()
        for runtime in self.carriers.values():
            runtime.restart_schedule(now)  # outage schedules and bind losses count from here
        self._ticker = asyncio.create_task(self._tick(), name="simulator-ticker")
        log.info("simulator listening: %s", self.ports)

    async def _start_control(self, port: int) -> None:
        runner = web.AppRunner(make_app(self), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, port, reuse_address=True)
        await site.start()
        self._control = runner
        server = site._server  # aiohttp keeps the asyncio.Server here; no public accessor
        assert isinstance(server, asyncio.Server)
        self.control_port = server.sockets[0].getsockname()[1]

    def _new_session(self, runtime: CarrierRuntime) -> Session:
        audit = self._audit.record if self._audit is not None else None
        session = Session(runtime, audit, on_close=self._sessions.discard, arrivals=self._arrivals)
        self._sessions.add(session)
        return session

    async def _tick(self) -> None:
        next_flush = self._clock() + AUDIT_FLUSH_EVERY
        enquiring = any(c.config.enquire_link_s for c in self.carriers.values())
        while True:
            await asyncio.sleep(TICK)
            for runtime in self.carriers.values():
                if runtime.refresh_mode() is Mode.DOWN:
                    self.drop_connections(runtime.name)
                if runtime.bind_loss_due():
                    runtime.binds_dropped += self.drop_connections(runtime.name)
                if runtime.has_work():
                    runtime.pump()
            if enquiring:
                now = self._clock()
                for session in list(self._sessions):
                    session.enquire_if_due(now)
            if self._audit is not None and self._clock() >= next_flush:
                self._audit.flush()
                next_flush = self._clock() + AUDIT_FLUSH_EVERY

    async def stop(self) -> None:
        """Close listeners and sessions, stop the ticker, flush the audit file."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        for server in self._servers:
            server.close()
        for session in list(self._sessions):
            session.close()
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
        if self._control is not None:
            await self._control.cleanup()
            self._control = None
        if self._audit is not None:
            self._audit.close()

    def stats(self) -> dict[str, dict[str, int]]:
        """Counters per carrier (see CarrierRuntime.stats)."""
        return {name: runtime.stats() for name, runtime in self.carriers.items()}

    def set_mps(self, carrier: str, mps: int, burst: int | None = None) -> None:
        """Change a carrier's MPS live.

        Raises:
            KeyError: no such carrier.
        """
        self.carriers[carrier].set_mps(mps, burst)

    def set_mode(self, carrier: str, mode: Mode | None) -> None:
        """Force `carrier` into `mode` now (None: back to its outage schedule).

        Raises:
            KeyError: no such carrier.
        """
        runtime = self.carriers[carrier]
        runtime.live_mode = mode
        if runtime.refresh_mode() is Mode.DOWN:
            self.drop_connections(carrier)

    def restart_schedule(self, carrier: str) -> None:
        """Count `carrier`'s outage windows and bind losses from now (rehearse on cue).

        Raises:
            KeyError: no such carrier.
        """
        runtime = self.carriers[carrier]
        runtime.restart_schedule(self._clock())
        if runtime.refresh_mode() is Mode.DOWN:
            self.drop_connections(carrier)

    def drop_connections(self, carrier: str) -> int:
        """Close every connection to `carrier` (as a network cut would); returns how many.

        Raises:
            KeyError: no such carrier.
        """
        runtime = self.carriers[carrier]
        doomed = [s for s in self._sessions if s.runtime is runtime]
        for session in doomed:
            session.close()
        return len(doomed)

    def inject_mo(self, carrier: str, source: str, destination: str, text: str) -> None:
        """Queue a mobile-originated message from `source` for `carrier`'s receivers.

        Raises:
            KeyError: no such carrier.
            ValueError: the text does not fit one segment.
        """
        runtime = self.carriers[carrier]
        runtime.inject_mo(mobile_originated(source, destination, text))
        runtime.pump()

    def faults(self) -> dict[str, dict[str, object]]:
        """Mode, limit and outage schedule per carrier."""
        return {
            name: {
                "mode": str(runtime.mode),
                "forced": runtime.live_mode is not None,
                "mps": int(runtime.limiter.bucket.rate),
                "burst": int(runtime.limiter.bucket.capacity),
            }
            for name, runtime in self.carriers.items()
        }
