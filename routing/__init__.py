"""The routing engine (pure) and the routing-config loader."""

from routing.loader import load_routes
from routing.table import CarrierSpec, Match, Price, Route, RoutingTable

__all__ = ["CarrierSpec", "Match", "Price", "Route", "RoutingTable", "load_routes"]
