"""The routing engine: `route()` orders the carriers that may take a message; `explain()` says why.

Pure and deterministic: the same request, table and snapshot give the same answer in any
process. No I/O, no clock; the worker reads the health `Snapshot` first and passes it in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from messaging import Encoding, MessageClass, NoRoute
from routing.candidate import Candidate
from routing.config import Strategy
from routing.health import CarrierHealth, Circuit, Snapshot
from routing.strategies import STRATEGIES
from routing.table import CarrierSpec, Price, RoutePlan, RoutingTable


@dataclass(frozen=True, slots=True)
class RouteRequest:
    """What the engine needs to know about one message."""

    message_id: str
    to: str  # E.164, "+" and digits
    message_class: MessageClass
    segments: int
    encoding: Encoding
    account: str | None = None
    sender: str = ""


# tuple.__new__ skips NamedTuple's generated __new__ (a Python-level call): half the cost.
_new = tuple.__new__


class Exclusion(StrEnum):
    """Why a carrier was left out of a decision."""

    NOT_IN_ROUTE = "not in route"
    NO_PRICE = "no price for prefix"
    ENCODING = "encoding not supported"
    SENDER = "alphanumeric sender not supported"
    CIRCUIT_OPEN = "circuit open"
    UNHEALTHY = "unhealthy"


@dataclass(frozen=True, slots=True)
class Excluded:
    """A carrier left out, the kind of reason, and the detail an operator reads."""

    carrier: str
    reason: Exclusion
    detail: str


@dataclass(frozen=True, slots=True)
class Decision:
    """The whole routing decision: route taken, ordered candidates, and every carrier left out."""

    route_name: str | None
    candidates: tuple[Candidate, ...]
    excluded: tuple[Excluded, ...]

    def no_route(self) -> NoRoute:
        """The error to raise when there are no candidates, listing every reason."""
        if self.route_name is None:
            return NoRoute(["no route matches this number, class and account"])
        reasons = [
            f"{e.carrier}: {e.detail}"
            for e in self.excluded
            if e.reason is not Exclusion.NOT_IN_ROUTE
        ]
        return NoRoute(reasons or [f'route "{self.route_name}" has no carrier'])


def route(request: RouteRequest, table: RoutingTable, snapshot: Snapshot) -> list[Candidate]:
    """Carriers to try for `request`, best first; empty when no route or no eligible carrier."""
    plan = table.plan(request.to, request.message_class, request.account)
    if plan is None:
        return []
    return _candidates(request, snapshot, plan)


def explain(request: RouteRequest, table: RoutingTable, snapshot: Snapshot) -> Decision:
    """The decision `route()` makes, with the reason each other carrier was left out."""
    plan = table.plan(request.to, request.message_class, request.account)
    if plan is None:
        excluded = tuple(
            Excluded(name, Exclusion.NOT_IN_ROUTE, "no route matches") for name in table.carriers
        )
        return Decision(None, (), excluded)
    candidates = _candidates(request, snapshot, plan)
    alphanumeric = _is_alphanumeric(request.sender)
    out = [
        why
        for price in plan.priced
        if (why := _exclusion(request, table.carriers[price.carrier], snapshot, alphanumeric))
    ]
    out += [
        Excluded(name, Exclusion.NO_PRICE, f"no price for {request.to} in prices.{name}")
        for name in plan.unpriced
    ]
    in_route = set(plan.route.carriers)
    out += [
        Excluded(name, Exclusion.NOT_IN_ROUTE, f'not in route "{plan.route.name}"')
        for name in table.carriers
        if name not in in_route
    ]
    return Decision(plan.route.name, tuple(candidates), tuple(out))


def _is_alphanumeric(sender: str) -> bool:
    return bool(sender) and not sender.lstrip("+").isdigit()


def _candidates(request: RouteRequest, snapshot: Snapshot, plan: RoutePlan) -> list[Candidate]:
    # The hot path of every send. Set operations on compiled sets do the per-carrier work;
    # only carriers the snapshot mentions are looked at one by one.
    health = snapshot.carriers
    allowed: frozenset[str] | set[str] = plan.takes[
        request.encoding, _is_alphanumeric(request.sender)
    ]
    touched = health.keys() & allowed if health else set()
    probing: set[str] = set()
    if touched:
        allowed = set(allowed)
        for name in touched:
            state = health[name]
            if state.circuit is Circuit.CLOSED and state.bound and state.score > 0.0:
                continue
            allowed.discard(name)
            if state.circuit is Circuit.HALF_OPEN and state.bound and state.score > 0.0:
                probing.add(name)
    elif request.segments == 1 and plan.healthy_order and len(allowed) == len(plan.priced):
        return list(plan.healthy_order)
    strategy = STRATEGIES[plan.route.strategy]
    ordered = strategy(plan, allowed, request.message_id, snapshot) if allowed else []
    overrides: dict[str, str] = {}  # reasons that differ from the compiled ones
    if ordered and plan.route.strategy is Strategy.WEIGHTED:
        first = ordered[0].carrier
        overrides[first] = f"weighted pick (weight {plan.weights[first]})"
    if probing:
        # A half-open circuit admits trial traffic only: such carriers go after the others.
        trial = strategy(plan, probing, request.message_id, snapshot)
        overrides.update((p.carrier, "half-open circuit, trial only") for p in trial)
        ordered += trial
    return _build(ordered, plan, request.segments, health, overrides)


def _build(
    ordered: list[Price],
    plan: RoutePlan,
    segments: int,
    health: Mapping[str, CarrierHealth],
    overrides: Mapping[str, str],
) -> list[Candidate]:
    """Candidates in order, reusing the compiled one-segment, full-health ones where they fit."""
    singles = plan.singles
    reasons = plan.reasons
    route_name = plan.route.name
    out: list[Candidate] = []
    for p in ordered:
        name = p.carrier
        state = health.get(name)
        if segments == 1 and state is None and name not in overrides:
            out.append(singles[name])
            continue
        out.append(
            _new(
                Candidate,
                (
                    name,
                    route_name,
                    p.per_segment,
                    p.per_segment * segments,
                    p.currency,
                    1.0 if state is None else state.score,
                    overrides.get(name) or reasons[name],
                ),
            )
        )
    return out


def _exclusion(
    request: RouteRequest, spec: CarrierSpec, snapshot: Snapshot, alphanumeric: bool
) -> Excluded | None:
    """Why `spec` may not take `request`, checked in a fixed order; None when it may."""
    name = spec.name
    if request.encoding not in spec.encodings:
        return Excluded(name, Exclusion.ENCODING, f"does not carry {request.encoding} messages")
    if alphanumeric and not spec.alphanumeric_sender:
        return Excluded(name, Exclusion.SENDER, f"refuses alphanumeric sender {request.sender!r}")
    health = snapshot.health(name)
    if health.circuit is Circuit.OPEN:
        return Excluded(name, Exclusion.CIRCUIT_OPEN, "circuit breaker open: failing recently")
    if not health.bound:
        return Excluded(name, Exclusion.UNHEALTHY, "no bound session")
    if health.score <= 0.0:
        return Excluded(name, Exclusion.UNHEALTHY, "health score 0")
    return None
