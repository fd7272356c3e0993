"""Run a Simulator on its own event loop in a background thread, for synchronous callers
(tests, Celery workers' integration tests, benchmarks)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future
from types import TracebackType
from typing import Any, TypeVar

from simulators.scenario import Scenario
from simulators.server import Simulator

T = TypeVar("T")


class SimulatorThread:
    """`with SimulatorThread(scenario) as sim: sim.ports["alpha"]` — started and stopped for you."""

    def __init__(self, scenario: Scenario, host: str = "127.0.0.1", **options: Any) -> None:
        self.simulator = Simulator(scenario, host, **options)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="simulator", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()
        self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        self._loop.close()

    def start(self, timeout: float = 10.0) -> Simulator:
        """Start the thread and the simulator; returns once every port listens.

        Raises:
            OSError: a port could not be bound.
        """
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self.simulator.start(), self._loop).result(timeout)
        except BaseException:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)
            raise
        return self.simulator

    def call(self, function: Callable[[Simulator], T], timeout: float = 10.0) -> T:
        """Run `function(simulator)` on the simulator's loop and return its result."""
        result: Future[T] = Future()

        def run() -> None:
            try:
                result.set_result(function(self.simulator))
            except BaseException as exc:  # handed to the caller's thread
                result.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return result.result(timeout)

    def stats(self) -> dict[str, dict[str, int]]:
        """Counters per carrier, read on the loop thread."""
        return self.call(lambda sim: sim.stats())

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the simulator, the loop and the thread."""
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self.simulator.stop(), self._loop).result(timeout)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
