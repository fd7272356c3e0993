"""Run receipt/MO handlers on their own thread, so a slow hand-off never stalls the reader."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

Job = Callable[[], None]


class CallbackThread:
    """A FIFO of handler calls run one at a time on a daemon thread, until :meth:`stop`."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def put(self, job: Job) -> None:
        """Queue one handler call."""
        self._jobs.put(job)

    def stop(self) -> None:
        """Run what is queued, then end (does not wait: see :meth:`join`)."""
        self._jobs.put(None)

    def join(self, timeout: float) -> None:
        """Wait for the thread to end, unless called from the thread itself."""
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                job()
            except Exception:
                # The PDU stays unacknowledged, so the carrier resends it: nothing is lost.
                log.exception("%s: receipt/MO handler failed", self._thread.name)
