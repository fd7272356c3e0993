"""The routing engine (pure) and the routing-config loader.

table = load_routes("config/routes.toml")
candidates = route(RouteRequest(...), table, snapshot)   # best first
decision = explain(RouteRequest(...), table, snapshot)   # + why each other carrier is out
decision_json(request, decision)                         # the same, as JSON data
"""

from routing.candidate import Candidate
from routing.config import BindMode, CarrierPacing, SegmentReceipts, Strategy
from routing.diff import CarrierChange, ExclusionChange, PriceChange, TableDiff, diff_tables
from routing.engine import (
    Decision,
    Excluded,
    Exclusion,
    RouteRequest,
    explain,
    route,
)
from routing.health import HEALTHY, CarrierHealth, Circuit, Snapshot
from routing.loader import load_routes
from routing.reload import Reload, TableHolder
from routing.render import candidate_json, decision_json
from routing.spill import take_now
from routing.strategies import STRATEGIES
from routing.table import (
    AccountSpec,
    CarrierSpec,
    InboundSpec,
    Match,
    Price,
    Route,
    RoutePlan,
    RoutingTable,
    carriers_by_receipts,
)
from routing.watch import RoutesWatcher

__all__ = [
    "HEALTHY",
    "STRATEGIES",
    "AccountSpec",
    "BindMode",
    "Candidate",
    "CarrierChange",
    "CarrierHealth",
    "CarrierPacing",
    "CarrierSpec",
    "Circuit",
    "Decision",
    "Excluded",
    "Exclusion",
    "ExclusionChange",
    "InboundSpec",
    "Match",
    "Price",
    "PriceChange",
    "Reload",
    "Route",
    "RoutePlan",
    "RouteRequest",
    "RoutesWatcher",
    "RoutingTable",
    "SegmentReceipts",
    "Snapshot",
    "Strategy",
    "TableDiff",
    "TableHolder",
    "candidate_json",
    "carriers_by_receipts",
    "decision_json",
    "diff_tables",
    "explain",
    "load_routes",
    "route",
    "take_now",
]
