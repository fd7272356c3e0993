"""The routing engine: `route()` orders the carriers that may take a message; `explain()` says why.

Pure and deterministic: the same request, table and snapshot give the same answer in any
process. No I/O, no clock; the worker reads the health `Snapshot` first and passes it in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    """Why a carrier was left out of a decision (or, for OVER_MPS_SHARE, moved to the end)."""

    NOT_IN_ROUTE = "not in route"
    ACCOUNT_BLOCKED = "account blocked"
    NOT_SERVED = "destination not served"
    NO_PRICE = "no price for prefix"
    ENCODING = "encoding not supported"
    SENDER = "alphanumeric sender not supported"
    CIRCUIT_OPEN = "circuit open"
    UNHEALTHY = "unhealthy"
    OVER_MPS_SHARE = "over its MPS share"


_TRIAL = "half-open circuit, trial only"
_OVER_SHARE = Exclusion.OVER_MPS_SHARE.value
_OVER_SHARE_TRIAL = f"{_OVER_SHARE}; {_TRIAL}"


@dataclass(frozen=True, slots=True)
class Excluded:
    """A carrier left out (or demoted), the kind of reason, and the detail an operator reads."""

    carrier: str
    reason: Exclusion
    detail: str


@dataclass(frozen=True, slots=True)
class Decision:
    """The whole routing decision: route taken, ordered candidates, and every carrier left out.

    `demoted` names the candidates moved to the end of the list because their MPS bucket has
    fewer tokens than the message has segments; they are still in `candidates`.
    """

    route_name: str | None
    candidates: tuple[Candidate, ...]
    excluded: tuple[Excluded, ...]
    demoted: tuple[Excluded, ...] = ()

    def no_route(self) -> NoRoute:
        """The error to raise when there are no candidates, listing every reason."""
        blocked = [e.detail for e in self.excluded if e.reason is Exclusion.ACCOUNT_BLOCKED]
        if blocked:
            return NoRoute(blocked[:1])  # the same detail for every carrier: say it once
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
    if plan is None or (plan.blocked and request.account in plan.blocked):
        return []
    return _candidates(request, snapshot, plan)


def explain(request: RouteRequest, table: RoutingTable, snapshot: Snapshot) -> Decision:
    """The decision `route()` makes, with the reason each other carrier was left out."""
    plan = table.plan(request.to, request.message_class, request.account)
    blocked = table.blocked_prefix(request.account, request.to)
    if blocked is not None:
        detail = (
            f'account "{request.account}" may not send to {blocked} '
            f"(accounts.{request.account}.blocked_prefixes)"
        )
        excluded = tuple(
            Excluded(name, Exclusion.ACCOUNT_BLOCKED, detail) for name in table.carriers
        )
        return Decision(plan.route.name if plan else None, (), excluded)
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
        Excluded(
            name,
            Exclusion.NOT_SERVED,
            f"does not serve {table.carriers[name].unserved(request.to)} "
            f"(carriers.{name}.exclude_prefixes)",
        )
        for name in plan.unserved
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
    demoted = tuple(
        Excluded(
            c.carrier,
            Exclusion.OVER_MPS_SHARE,
            f"{left:g} token(s) left in its MPS bucket for {request.segments} segment(s): "
            "tried last",
        )
        for c in candidates
        if (left := snapshot.health(c.carrier).capacity_left) is not None
        and left < request.segments
    )
    return Decision(plan.route.name, tuple(candidates), tuple(out), demoted)


def _is_alphanumeric(sender: str) -> bool:
    return bool(sender) and not sender.lstrip("+").isdigit()


def _candidates(request: RouteRequest, snapshot: Snapshot, plan: RoutePlan) -> list[Candidate]:
    # The hot path of every send. The plan holds, per lane, the carriers that can take the
    # message already in the strategy's base order; one pass over them sorts each into
    # usable, half-open (trial) or short of MPS tokens, dropping the unusable.
    health = snapshot.carriers
    segments = request.segments
    lane = (request.encoding, bool(request.sender) and not request.sender.lstrip("+").isdigit())
    if not health and segments == 1:
        fast = plan.healthy[lane]
        if fast:
            return list(fast)
    prices: Sequence[Price] = plan.lanes[lane]
    trial: list[Price] = []
    short: list[Price] = []
    if health:
        usable: list[Price] = []
        for p in prices:
            state = health.get(p.carrier)
            if state is None:
                usable.append(p)
            elif state.circuit is Circuit.OPEN or not state.bound or state.score <= 0.0:
                continue
            elif state.capacity_left is not None and state.capacity_left < segments:
                short.append(p)
            elif state.circuit is Circuit.HALF_OPEN:
                trial.append(p)
            else:
                usable.append(p)
        prices = usable
    strategy = STRATEGIES[plan.route.strategy]
    message_id = request.message_id
    ordered = strategy(plan, prices, message_id, snapshot) if prices else []
    overrides: dict[str, str] = {}  # reasons that differ from the compiled ones
    if ordered and plan.route.strategy is Strategy.WEIGHTED:
        first = ordered[0].carrier
        overrides[first] = f"weighted pick (weight {plan.weights[first]})"
    if trial:
        # A half-open circuit admits trial traffic only: such carriers go after the others.
        tried = strategy(plan, trial, message_id, snapshot)
        overrides.update((p.carrier, _TRIAL) for p in tried)
        ordered += tried
    if short:
        # Too few tokens left for this message: still a valid fallback, so tried last
        # rather than dropped (the worker may wait for its bucket or move on).
        late = strategy(plan, short, message_id, snapshot)
        for p in late:
            trial_too = health[p.carrier].circuit is Circuit.HALF_OPEN
            overrides[p.carrier] = _OVER_SHARE_TRIAL if trial_too else _OVER_SHARE
        ordered += late
    return _build(ordered, plan, segments, health, overrides)


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
