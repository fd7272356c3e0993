"""The SMSC carrier simulator: an asyncio SMPP 3.4 server and its scenario model.

    scenario = load_scenario("config/simulator.toml")     # or Scenario(carriers=[CarrierSim(...)])
    sim = Simulator(scenario); await sim.start()           # sim.ports["alpha"], sim.stats()
    with SimulatorThread(scenario) as sim: ...              # the same, for synchronous callers

`python -m simulators --scenario FILE` runs it as a process; `switchboard simulate` too.
"""

from simulators.faults import Mode
from simulators.scenario import (
    CarrierSim,
    DelayRange,
    Outage,
    PrefixRule,
    Scenario,
    load_scenario,
    parse_scenario,
)
from simulators.server import Simulator
from simulators.thread import SimulatorThread

__all__ = [
    "CarrierSim",
    "DelayRange",
    "Mode",
    "Outage",
    "PrefixRule",
    "Scenario",
    "Simulator",
    "SimulatorThread",
    "load_scenario",
    "parse_scenario",
]
