"""The stack a chaos run uses: two simulated carriers on free ports, receipts on, an audit file."""

from __future__ import annotations

from pathlib import Path

from switchboard.embedded import free_port
from switchboard.stack import Stack, WorkerSpec

SIMULATOR = """
seed = 16
control_port = {control}
audit_path = "{audit}"

[[carriers]]
name = "alpha"
port = {alpha}
system_id = "alpha"
password = "alphapw"
max_binds = 16
mps = {mps}
receipt_delay_ms = {{ min = 20, max = 100 }}
undelivered_share = 0.1
message_id_format = "hex"

[[carriers]]
name = "beta"
port = {beta}
system_id = "beta"
password = "betapw"
max_binds = 16
mps = {mps}
receipt_delay_ms = {{ min = 20, max = 100 }}
undelivered_share = 0.1
message_id_format = "decimal"
"""

ROUTES = """
[carriers.alpha]
host = "127.0.0.1"
port = {alpha}
system_id = "alpha"
password = "alphapw"
mps = {mps}
window = {window}

[carriers.beta]
host = "127.0.0.1"
port = {beta}
system_id = "beta"
password = "betapw"
mps = {mps}
window = {window}

# least_cost splits the traffic: alpha is cheaper to +44 and +49, beta to +33 and +1.
[prices.alpha]
currency = "EUR"
"+44" = 0.030
"+33" = 0.060
"+49" = 0.055
"+1" = 0.012

[prices.beta]
currency = "EUR"
"+44" = 0.035
"+33" = 0.050
"+49" = 0.060
"+1" = 0.010

[[routes]]
name = "default"
strategy = "least_cost"
carriers = ["alpha", "beta"]
"""


def chaos_workers(send_processes: int = 1) -> tuple[WorkerSpec, ...]:
    """One send worker for every class, one receipts/callbacks worker that runs beat."""
    return (
        WorkerSpec("worker-send", "otp,transactional,marketing", send_processes),
        WorkerSpec("worker-receipts", "receipts,callbacks", 1, beat=True),
    )


def chaos_stack(
    directory: Path,
    database_url: str = "",
    carrier_mps: int = 250,
    window: int = 10,
    send_processes: int = 1,
    env: dict[str, str] | None = None,
) -> Stack:
    """A Stack (not started) whose configs are written to `directory`; the settings stay the
    product's defaults unless `env` says otherwise."""
    directory.mkdir(parents=True, exist_ok=True)
    values = {
        "alpha": free_port(),
        "beta": free_port(),
        "control": free_port(),
        "mps": carrier_mps,
        "window": window,
        "audit": directory / "audit.jsonl",
    }
    (directory / "simulator.toml").write_text(SIMULATOR.format(**values))
    (directory / "routes.toml").write_text(ROUTES.format(**values))
    return Stack(
        var_dir=directory / "var",
        routes_file=directory / "routes.toml",
        simulator_file=directory / "simulator.toml",
        database_url=database_url,
        workers=chaos_workers(send_processes),
        extra_env=env or {},
    )
