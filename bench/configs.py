"""The configured simulator and routes files, rewritten for a bench run beside anything else.

Every carrier port and the control port move to free ports (nothing clashes with a running demo
or another bench), and price files named relative to the routes file are made absolute, so the
rewritten files can live in a temporary directory.
"""

from __future__ import annotations

import re

from switchboard.embedded import free_port
from switchboard.settings import Settings


def on_free_ports(settings: Settings) -> tuple[str, str]:
    """(simulator text, routes text) of the configured files, on free ports."""
    simulator = settings.simulator_file.read_text()
    routes = settings.routes_file.read_text()
    for port in sorted(set(re.findall(r"^port = (\d+)", simulator, flags=re.M))):
        fresh = str(free_port())
        simulator = re.sub(rf"^port = {port}\b", f"port = {fresh}", simulator, flags=re.M)
        routes = re.sub(rf"^port = {port}\b", f"port = {fresh}", routes, flags=re.M)
    simulator = re.sub(
        r"^control_port = \d+", f"control_port = {free_port()}", simulator, flags=re.M
    )
    base = settings.routes_file.resolve().parent  # price files are relative to the routes file
    routes = re.sub(
        r'^file = "([^"/][^"]*)"', lambda m: f'file = "{base / m.group(1)}"', routes, flags=re.M
    )
    return simulator, routes


__all__ = ["on_free_ports"]
