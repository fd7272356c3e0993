"""The SMSC carrier simulator: an asyncio SMPP 3.4 server and its scenario model."""

from simulators.scenario import CarrierSim, DelayRange, Scenario, load_scenario, parse_scenario
from simulators.server import Simulator
from simulators.thread import SimulatorThread

__all__ = [
    "CarrierSim",
    "DelayRange",
    "Scenario",
    "Simulator",
    "SimulatorThread",
    "load_scenario",
    "parse_scenario",
]
