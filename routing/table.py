"""The compiled, immutable routing table: carriers, price lists, routes, and a prefix index.

Route matching rule (documented here because operators rely on it):

    Among the routes whose ``match`` fits the message — its ``prefix`` starts the number
    (no prefix fits every number), its ``class`` equals the message class (none fits every
    class), its ``account`` equals the sending account (none fits every account) — the most
    specific wins: the longest prefix first; at equal prefix, a route naming an account beats
    one that does not; then one naming a class beats one that does not; then file order.

So file order only breaks ties between identical matches, which is why the loader rejects a
route whose match repeats an earlier one: it could never be chosen.

Exclusions: a carrier's ``exclude_prefixes`` (destinations it does not serve) take it out of
every route for numbers under them, priced or not; an account's ``blocked_prefixes`` leave a
message from that account to such a number with no carrier at all.

Every number is looked up once in a prefix index built at compile time: the keys are every
price, route, exclusion and block prefix, and each key holds the longest-prefix price of every
carrier, the accounts blocked there, and each route's plan already resolved for every class
and account the file names. A lookup is a handful of dict probes, not a scan of the price
lists. Since every exclusion prefix is itself a key, the longest key that starts a number
starts with every exclusion prefix that does, so a key's exclusions are its number's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType

from messaging import Encoding, MessageClass
from routing.candidate import Candidate
from routing.config import BindMode, CarrierPacing, SegmentReceipts, Strategy


@dataclass(frozen=True, slots=True)
class CarrierSpec:
    """One carrier account as the operator configured it."""

    name: str
    host: str
    port: int
    system_id: str
    password: str = field(repr=False)
    system_type: str = ""
    bind: BindMode = BindMode.TRANSCEIVER
    binds: int | None = None  # cluster-wide cap held by bind leases; None: no cap
    window: int = 10
    enquire_link: float = 30.0  # seconds an idle bind waits before enquire_link
    mps: int = 1
    encodings: frozenset[Encoding] = frozenset({Encoding.GSM7, Encoding.UCS2})
    otp_reserved_share: float = 0.2
    throttle_failover: bool = False  # on a throttle: next candidate now, not this one again
    pacing: CarrierPacing = CarrierPacing.AUTO  # how it counts MPS: one sender, or two
    alphanumeric_sender: bool = True
    exclude_prefixes: tuple[str, ...] = ()  # destinations it does not serve
    segment_receipts: SegmentReceipts = SegmentReceipts.AUTO  # receipts of a multipart message
    failover_on: frozenset[str] = frozenset()  # permanent status names that fail over here
    permanent_on: frozenset[str] = frozenset()  # transient status names that are final here

    def unserved(self, e164: str) -> str | None:
        """The prefix of `e164` this carrier does not serve, or None when it serves it."""
        return next((p for p in self.exclude_prefixes if e164.startswith(p)), None)


def carriers_by_receipts(
    carriers: Mapping[str, CarrierSpec], mode: SegmentReceipts
) -> frozenset[str]:
    """Names of the carriers whose `segment_receipts` is `mode`."""
    return frozenset(name for name, spec in carriers.items() if spec.segment_receipts is mode)


@dataclass(frozen=True, slots=True)
class InboundSpec:
    """What the routes file says about MOs beyond ownership: where each account's MOs are
    POSTed (`[accounts.<name>] inbound_url`) and the reply texts of `[replies]` (by kind:
    `help`, `stop`, `start`, `auto`; numbers as digits without `+`)."""

    urls: Mapping[str, str] = field(default_factory=dict)
    replies: Mapping[str, str] = field(default_factory=dict)
    account_replies: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    number_replies: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    reply_every_minutes: float = 60.0


@dataclass(frozen=True, slots=True)
class AccountSpec:
    """Rules for one sending account: destinations it may not send to."""

    name: str
    blocked_prefixes: tuple[str, ...] = ()

    def blocked(self, e164: str) -> str | None:
        """The blocked prefix of `e164`, or None when the account may send there."""
        return next((p for p in self.blocked_prefixes if e164.startswith(p)), None)


@dataclass(frozen=True, slots=True)
class Price:
    """What one segment to numbers under `prefix` costs on `carrier`."""

    carrier: str
    prefix: str
    per_segment: Decimal
    currency: str


@dataclass(frozen=True, slots=True)
class Match:
    """Which messages a route takes; ``None`` / ``""`` means any."""

    prefix: str = ""
    message_class: MessageClass | None = None
    account: str | None = None

    def fits(self, to: str, message_class: MessageClass, account: str | None) -> bool:
        """True when a message to `to` of `message_class` from `account` fits this match."""
        return (
            to.startswith(self.prefix)
            and (self.message_class is None or self.message_class == message_class)
            and (self.account is None or self.account == account)
        )

    @property
    def specificity(self) -> tuple[int, bool, bool]:
        """Sort key, larger is more specific: prefix length, then account, then class."""
        return (len(self.prefix), self.account is not None, self.message_class is not None)


@dataclass(frozen=True, slots=True)
class Route:
    """A compiled ``[[routes]]`` entry; `weights` align with `carriers` (weighted only)."""

    name: str
    match: Match
    strategy: Strategy
    carriers: tuple[str, ...]
    weights: tuple[int, ...] = ()
    position: int = 0
    spill: bool | None = None  # the file's `spill`; None: by class (see `spills`)

    def spills(self, message_class: MessageClass) -> bool:
        """Whether a message of `message_class` on this route goes to its next candidate with
        an MPS token when its first has none now (`spill = true`), or waits for the first
        (`spill = false`). Unset: marketing spills (a campaign wants every carrier's rate,
        cheapest first); OTP and transactional keep their strategy's order."""
        if self.spill is not None:
            return self.spill
        return message_class is MessageClass.MARKETING


LaneKey = tuple[Encoding, bool]
"""What a message asks of a carrier: its encoding, and whether its sender is alphanumeric."""

LANE_KEYS: tuple[LaneKey, ...] = tuple((e, a) for e in Encoding for a in (False, True))


@dataclass(frozen=True, slots=True)
class Lane:
    """The carriers of a plan that can take one kind of message, in the strategy's base order.

    `singles` is the whole answer for a one-segment message at full health; the engine copies
    it and touches only the few carriers the health snapshot mentions (found by `index`).
    """

    prices: tuple[Price, ...]  # by cost, ties by name; listed order for priority
    singles: tuple[Candidate, ...]  # aligned with prices
    # carrier → position in prices / singles. A plain dict, read-only by convention: the
    # engine intersects its keys with the snapshot's, and a mappingproxy is slower there.
    index: dict[str, int]


@dataclass(frozen=True, slots=True)
class RoutePlan:
    """A route's carriers at one prefix, resolved once at compile time."""

    route: Route
    priced: tuple[Price, ...]  # served and priced, in the route's listed order
    by_cost: tuple[Price, ...]  # cheapest first, ties by carrier name
    unpriced: tuple[str, ...]  # served carriers of the route with no price at this prefix
    unserved: tuple[str, ...]  # carriers of the route whose exclude_prefixes cover it
    blocked: frozenset[str]  # accounts that may not send to this prefix
    lanes: Mapping[LaneKey, Lane]  # priced carriers able to take each kind of message
    weights: Mapping[str, int]  # weighted routes only
    reasons: Mapping[str, str]  # why each carrier is where the strategy put it
    # The candidate each carrier becomes for a one-segment message at full health: built
    # once here, reused by every decision (candidates are immutable).
    singles: Mapping[str, Candidate]


@dataclass(frozen=True, slots=True)
class PrefixNode:
    """Everything known about numbers whose longest indexed prefix is `prefix`."""

    prefix: str
    prices: Mapping[str, Price]
    plans: tuple[RoutePlan, ...]  # most specific route first
    # The plan a message takes, resolved at compile time: by class for any account, and by
    # (account, class) for the accounts that routes name (only where that differs).
    by_class: Mapping[MessageClass, RoutePlan]
    by_account: Mapping[tuple[str, MessageClass], RoutePlan]


def _freeze(mapping: Mapping[str, Price]) -> Mapping[str, Price]:
    return MappingProxyType(dict(mapping))


class RoutingTable:
    """Immutable compiled routing config; build with `load_routes` or `RoutingTable.build`."""

    __slots__ = (
        "_accounts",
        "_carriers",
        "_inbound",
        "_index",
        "_keywords",
        "_lengths",
        "_numbers",
        "_price_lists",
        "_routes",
        "_routes_by_name",
        "currency",
    )

    def __init__(
        self,
        carriers: Mapping[str, CarrierSpec],
        price_lists: Mapping[str, Mapping[str, Price]],
        routes: Iterable[Route],
        currency: str = "EUR",
        accounts: Mapping[str, AccountSpec] | None = None,
        numbers: Mapping[str, str] | None = None,
        keywords: Mapping[str, tuple[str, ...]] | None = None,
        inbound: InboundSpec | None = None,
    ) -> None:
        self._carriers: Mapping[str, CarrierSpec] = MappingProxyType(dict(carriers))
        self._price_lists: Mapping[str, Mapping[str, Price]] = MappingProxyType(
            {name: _freeze(prices) for name, prices in sorted(price_lists.items())}
        )
        self._routes: tuple[Route, ...] = tuple(routes)
        self._routes_by_name: Mapping[str, Route] = MappingProxyType(
            {r.name: r for r in self._routes}
        )
        self._accounts: Mapping[str, AccountSpec] = MappingProxyType(dict(accounts or {}))
        # number/short code digits (no `+`) → owning account name
        self._numbers: Mapping[str, str] = MappingProxyType(
            {k.removeprefix("+"): v for k, v in (numbers or {}).items()}
        )
        # "opt_out" | "opt_in" | "help" → the operator's extra keywords (the defaults are inbound's)
        self._keywords: Mapping[str, tuple[str, ...]] = MappingProxyType(dict(keywords or {}))
        self._inbound = inbound or InboundSpec()
        self.currency = currency
        index = self._compile()
        self._lengths: tuple[int, ...] = tuple(sorted({len(key) for key in index}, reverse=True))
        # Set last: once `_index` exists, __setattr__ refuses every change.
        self._index: Mapping[str, PrefixNode] = MappingProxyType(index)

    @classmethod
    def build(
        cls,
        carriers: Iterable[CarrierSpec],
        prices: Iterable[Price],
        routes: Iterable[Route],
        currency: str = "EUR",
        accounts: Iterable[AccountSpec] = (),
    ) -> RoutingTable:
        """Assemble a table from already-checked parts (tests, benchmarks)."""
        price_lists: dict[str, dict[str, Price]] = {}
        for price in prices:
            price_lists.setdefault(price.carrier, {})[price.prefix] = price
        return cls(
            {c.name: c for c in carriers},
            price_lists,
            routes,
            currency,
            {a.name: a for a in accounts},
        )

    def __setattr__(self, name: str, value: object) -> None:
        if hasattr(self, "_index"):
            raise AttributeError("RoutingTable is immutable")
        object.__setattr__(self, name, value)

    @property
    def carriers(self) -> Mapping[str, CarrierSpec]:
        """Carrier name → spec, in file order."""
        return self._carriers

    @property
    def numbers(self) -> Mapping[str, str]:
        """Our number or short code (digits, no `+`) → the account that owns it."""
        return self._numbers

    @property
    def keywords(self) -> Mapping[str, tuple[str, ...]]:
        """Extra MO keywords by action (`opt_out`, `opt_in`, `help`) from `[keywords]`."""
        return self._keywords

    @property
    def inbound(self) -> InboundSpec:
        """Inbound URLs and reply texts (`[accounts.*] inbound_url`, `[replies]`)."""
        return self._inbound

    def owner_of(self, destination: str) -> str | None:
        """The account owning `destination` (an MO's destination_addr), or None."""
        return self._numbers.get(destination.strip().removeprefix("+"))

    @property
    def accounts(self) -> Mapping[str, AccountSpec]:
        """Account name → its rules (accounts without rules are not listed)."""
        return self._accounts

    @property
    def routes(self) -> tuple[Route, ...]:
        """Routes in file order."""
        return self._routes

    def route_named(self, name: str) -> Route | None:
        """The route called `name` (a candidate's `route`), or None."""
        return self._routes_by_name.get(name)

    @property
    def price_lists(self) -> Mapping[str, Mapping[str, Price]]:
        """Carrier name → prefix → price."""
        return self._price_lists

    def price(self, carrier: str, e164: str) -> Price | None:
        """Per-segment price of `carrier` for `e164`, longest prefix wins; None if unpriced."""
        return self.node(e164).prices.get(carrier)

    def blocked_prefix(self, account: str | None, e164: str) -> str | None:
        """The prefix of `e164` that `account` may not send to, or None."""
        rules = self._accounts.get(account) if account is not None else None
        return rules.blocked(e164) if rules is not None else None

    def match(
        self, e164: str, message_class: MessageClass, account: str | None = None
    ) -> Route | None:
        """The route a message takes (see the module docstring for the rule), or None."""
        plan = self.plan(e164, message_class, account)
        return plan.route if plan is not None else None

    def plan(
        self, e164: str, message_class: MessageClass, account: str | None = None
    ) -> RoutePlan | None:
        """The matched route with its carriers priced for `e164`, or None."""
        node = self.node(e164)
        if account is not None and node.by_account:
            plan = node.by_account.get((account, message_class))
            if plan is not None:
                return plan
        return node.by_class.get(message_class)

    def node(self, e164: str) -> PrefixNode:
        """The index entry for the longest indexed prefix of `e164` (``""`` at worst)."""
        index = self._index
        size = len(e164)
        for length in self._lengths:
            if length <= size:
                node = index.get(e164[:length])
                if node is not None:
                    return node
        return index[""]

    def _compile(self) -> dict[str, PrefixNode]:
        keys = {""}
        for prices in self._price_lists.values():
            keys.update(prices)
        keys.update(route.match.prefix for route in self._routes)
        for spec in self._carriers.values():
            keys.update(spec.exclude_prefixes)
        for account in self._accounts.values():
            keys.update(account.blocked_prefixes)
        ordered_routes = sorted(
            self._routes,
            key=lambda r: (*(-x for x in r.match.specificity), r.position),
        )
        named = sorted({r.match.account for r in self._routes if r.match.account is not None})
        index: dict[str, PrefixNode] = {}
        for key in keys:
            prices = {
                carrier: best
                for carrier, table in self._price_lists.items()
                if (best := _longest(table, key)) is not None
            }
            blocked = frozenset(a.name for a in self._accounts.values() if a.blocked(key))
            plans = tuple(
                _plan(route, prices, self._carriers, key, blocked)
                for route in ordered_routes
                if key.startswith(route.match.prefix)
            )
            by_class = {
                c: plan for c in MessageClass if (plan := _first(plans, c, None)) is not None
            }
            by_account = {
                (a, c): plan
                for a in named
                for c in MessageClass
                if (plan := _first(plans, c, a)) is not None and plan is not by_class.get(c)
            }
            index[key] = PrefixNode(
                key,
                _freeze(prices),
                plans,
                MappingProxyType(by_class),
                MappingProxyType(by_account),
            )
        return index


def _first(
    plans: Iterable[RoutePlan], message_class: MessageClass, account: str | None
) -> RoutePlan | None:
    """The first (most specific) plan whose match takes this class and account."""
    for plan in plans:
        match = plan.route.match
        if (match.message_class is None or match.message_class == message_class) and (
            match.account is None or match.account == account
        ):
            return plan
    return None


def _longest(prices: Mapping[str, Price], key: str) -> Price | None:
    for end in range(len(key), 0, -1):
        price = prices.get(key[:end])
        if price is not None:
            return price
    return None


def _plan(
    route: Route,
    prices: Mapping[str, Price],
    carriers: Mapping[str, CarrierSpec],
    key: str,
    blocked: frozenset[str],
) -> RoutePlan:
    unserved = tuple(c for c in route.carriers if carriers[c].unserved(key) is not None)
    served = [c for c in route.carriers if c not in unserved]
    priced = tuple(prices[c] for c in served if c in prices)
    unpriced = tuple(c for c in served if c not in prices)
    by_cost = tuple(sorted(priced, key=lambda p: (p.per_segment, p.carrier)))
    base = priced if route.strategy is Strategy.PRIORITY else by_cost
    reasons = {
        name: _REASONS[route.strategy].format(position=i)
        for i, name in enumerate(route.carriers, start=1)
    }
    singles = {
        p.carrier: Candidate(
            p.carrier, route.name, p.per_segment, p.per_segment, p.currency, 1.0, reasons[p.carrier]
        )
        for p in priced
    }
    lanes: dict[LaneKey, Lane] = {}
    shared: dict[tuple[str, ...], Lane] = {}  # most carriers take every lane: build it once
    for encoding, alphanumeric in LANE_KEYS:
        fit = tuple(
            p
            for p in base
            if encoding in carriers[p.carrier].encodings
            and (carriers[p.carrier].alphanumeric_sender or not alphanumeric)
        )
        names = tuple(p.carrier for p in fit)
        lane = shared.get(names)
        if lane is None:
            lane = shared[names] = Lane(
                fit,
                tuple(singles[name] for name in names),
                {name: i for i, name in enumerate(names)},
            )
        lanes[encoding, alphanumeric] = lane
    return RoutePlan(
        route,
        priced,
        by_cost,
        unpriced,
        unserved,
        blocked,
        MappingProxyType(lanes),
        MappingProxyType(dict(zip(route.carriers, route.weights, strict=False))),
        MappingProxyType(reasons),
        MappingProxyType(singles),
    )


_REASONS: Mapping[Strategy, str] = MappingProxyType(
    {
        Strategy.LEAST_COST: "least cost",
        Strategy.QUALITY: "best score, then cost",
        Strategy.WEIGHTED: "by cost after the weighted pick",
        Strategy.PRIORITY: "priority {position}",
    }
)
