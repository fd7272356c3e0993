"""The routing engine: `route()` orders the carriers that may take a message; `explain()` says why.

Pure and deterministic: the same request, table and snapshot give the same answer in any
process. No I/O, no clock; the worker reads the health `Snapshot` first and passes it in.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from messaging import Encoding, MessageClass, NoRoute
from routing.candidate import Candidate
from routing.config import Strategy
from routing.health import Circuit, Snapshot
from routing.strategies import STRATEGIES
from routing.table import CarrierSpec, RoutePlan, RoutingTable


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
    # The hot path of every send. The plan's lane holds the carriers that can take the
    # message, in the strategy's base order, as ready-made full-health candidates: copy
    # them, then touch only the carriers the snapshot mentions (a set intersection finds
    # them) — drop the unusable, rescore the degraded, move trials and the short of MPS
    # tokens to the end. Work is per degraded carrier, not per carrier.
    states = snapshot.states
    segments = request.segments
    sender = request.sender
    lane = plan.lanes[request.encoding, bool(sender) and not sender.lstrip("+").isdigit()]
    if segments == 1:
        out = list(lane.singles)
    else:
        out = [
            _new(Candidate, (c[0], c[1], c[2], c[2] * segments, c[4], c[5], c[6]))
            for c in lane.singles
        ]
    touched = states.keys() & lane.index.keys() if states else None
    rescored = False
    trial: list[Candidate] = []
    short: list[Candidate] = []
    if touched:
        index = lane.index
        # Highest position first, so deleting one never shifts those still to visit.
        for i in sorted([index[name] for name in touched], reverse=True):
            c = out[i]
            state = states[c[0]]
            left = state.capacity_left
            enough = left is None or left >= segments
            circuit = state.circuit
            if state.score == 1.0 and circuit is Circuit.CLOSED and state.bound and enough:
                continue
            if circuit is Circuit.OPEN or not state.bound or state.score <= 0.0:
                del out[i]
            elif not enough:
                # Too few tokens for this message: still a valid fallback, so tried last
                # rather than dropped (the worker may wait for its bucket or move on).
                del out[i]
                late = _OVER_SHARE_TRIAL if circuit is Circuit.HALF_OPEN else _OVER_SHARE
                short.append(_new(Candidate, (c[0], c[1], c[2], c[3], c[4], state.score, late)))
            elif circuit is Circuit.HALF_OPEN:
                # A half-open circuit admits trial traffic only: such carriers go after the others.
                del out[i]
                trial.append(_new(Candidate, (c[0], c[1], c[2], c[3], c[4], state.score, _TRIAL)))
            else:
                out[i] = _new(Candidate, (c[0], c[1], c[2], c[3], c[4], state.score, c[6]))
                rescored = True
        trial.reverse()
        short.reverse()
    strategy = plan.route.strategy
    order = STRATEGIES[strategy]
    message_id = request.message_id
    # At full health every strategy but weighted keeps the base order: skip the call.
    if out and (rescored or strategy is Strategy.WEIGHTED):
        out = order(plan, out, message_id)
        if strategy is Strategy.WEIGHTED:
            first = out[0]
            weight = plan.weights[first.carrier]
            out[0] = first._replace(reason=f"weighted pick (weight {weight})")
    if len(trial) > 1:
        trial = order(plan, trial, message_id)
    if len(short) > 1:
        short = order(plan, short, message_id)
    return out + trial + short if trial or short else out


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
