"""`load_routes(path)`: TOML → pydantic shape → cross-section checks → compiled `RoutingTable`.

Every check appends located problems instead of raising, so an operator sees all of them
at once, each as ``config/routes.toml:42: routes[3].carriers[1]: unknown carrier "x"``.
"""

from __future__ import annotations

import csv
import ipaddress
import re
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path

from messaging import (
    CallbackPolicy,
    ConfigProblem,
    InvalidInput,
    TomlSource,
    raise_if,
    read_toml,
    validate,
)
from routing.config import (
    PREFIX_PATTERN,
    PriceListModel,
    ReplyTextsModel,
    RouteModel,
    RoutesFile,
    Strategy,
)
from routing.table import AccountSpec, CarrierSpec, InboundSpec, Match, Price, Route, RoutingTable

_PREFIX = re.compile(PREFIX_PATTERN)
_WEIGHT_TOTAL = 100


_KEYWORD = re.compile(r"^\w{1,20}$")


def load_routes(path: str | Path, display_path: str | None = None) -> RoutingTable:
    """Read, validate and compile a routing file.

    Raises:
        ConfigError: every problem found, each located as ``file:line: key: reason``.
    """
    source = read_toml(path, display_path)
    model = validate(source, RoutesFile)
    problems: list[ConfigProblem] = [
        source.problem((section,), f"at least one {section[:-1]} is required")
        for section in ("carriers", "routes")
        if not getattr(model, section)
    ]
    price_lists = _price_lists(source, Path(path), model, problems)
    problems += _prefix_list_problems(source, model)
    problems += _override_problems(source, model)
    problems += _number_problems(source, model)
    problems += _keyword_problems(source, model)
    problems += _inbound_problems(source, model)
    problems += _route_problems(source, model, price_lists)
    raise_if(problems)
    return _compile(model, price_lists)


def _price_lists(
    source: TomlSource, path: Path, model: RoutesFile, problems: list[ConfigProblem]
) -> dict[str, dict[str, Price]]:
    """Inline and CSV prices per carrier, checking keys, files and the single currency."""
    out: dict[str, dict[str, Price]] = {}
    first_currency: tuple[str, str] | None = None
    for carrier, price_list in model.prices.items():
        loc = ("prices", carrier)
        known = len(problems)
        if carrier not in model.carriers:
            problems.append(source.problem(loc, f'unknown carrier "{carrier}"'))
        if first_currency is None:
            first_currency = (carrier, price_list.currency)
        elif price_list.currency != first_currency[1]:
            # Costs are compared across carriers, so they must be in one currency.
            problems.append(
                source.problem(
                    (*loc, "currency"),
                    f'must be "{first_currency[1]}" like prices.{first_currency[0]} '
                    "(one currency per file)",
                )
            )
        entries: dict[str, Price] = {}
        for prefix, amount in price_list.per_segment().items():
            if not _PREFIX.match(prefix):
                problems.append(
                    source.problem((*loc, prefix), 'unknown key (a price is written "+44" = 0.030)')
                )
                continue
            entries[prefix] = Price(carrier, prefix, amount, price_list.currency)
        if price_list.file is not None:
            for prefix, amount, problem in _read_csv(source, path, carrier, price_list):
                if problem is not None:
                    problems.append(problem)
                elif prefix in entries:
                    problems.append(
                        source.problem(
                            (*loc, "file"),
                            f'{price_list.file} prices "{prefix}" again; keep it in one place',
                        )
                    )
                else:
                    entries[prefix] = Price(carrier, prefix, amount, price_list.currency)
        if len(problems) == known:  # a broken list is left out: its routes are not re-checked
            out[carrier] = entries
    return out


def _read_csv(
    source: TomlSource, path: Path, carrier: str, price_list: PriceListModel
) -> Iterator[tuple[str, Decimal, ConfigProblem | None]]:
    """Rows of a ``prefix,price`` CSV beside the TOML; skips a header row and ``#`` lines."""
    assert price_list.file is not None
    shown = str(Path(source.path).parent / price_list.file)
    try:
        text = (path.parent / price_list.file).read_text(encoding="utf-8")
    except OSError as exc:
        yield (
            "",
            Decimal(0),
            source.problem(("prices", carrier, "file"), f"cannot read {shown}: {exc.strerror}"),
        )
        return
    for number, row in enumerate(csv.reader(text.splitlines()), start=1):
        cells = [cell.strip() for cell in row]
        if not cells or not cells[0] or cells[0].startswith("#"):
            continue
        if number == 1 and cells[0].lower() == "prefix":
            continue
        if len(cells) != 2:
            yield (
                "",
                Decimal(0),
                ConfigProblem(shown, number, cells[0], "expected two columns: prefix,price"),
            )
            continue
        prefix, raw = cells
        if not _PREFIX.match(prefix):
            yield (
                "",
                Decimal(0),
                ConfigProblem(shown, number, prefix, 'prefix must be "+" and up to 15 digits'),
            )
            continue
        try:
            amount = Decimal(raw)
        except InvalidOperation:
            amount = Decimal(-1)
        if not amount.is_finite() or amount < 0:
            yield (
                "",
                Decimal(0),
                ConfigProblem(shown, number, prefix, f"price must be a number >= 0, got {raw!r}"),
            )
            continue
        yield prefix, amount, None


def _prefix_list_problems(source: TomlSource, model: RoutesFile) -> list[ConfigProblem]:
    """Exclusion lists: no prefix twice, none already covered by a shorter one in the list."""
    lists: list[tuple[tuple[str, ...], Sequence[str]]] = [
        (("carriers", name, "exclude_prefixes"), c.exclude_prefixes)
        for name, c in model.carriers.items()
    ]
    lists += [
        (("accounts", name, "blocked_prefixes"), a.blocked_prefixes)
        for name, a in model.accounts.items()
    ]
    problems: list[ConfigProblem] = []
    for loc, prefixes in lists:
        for j, prefix in enumerate(prefixes):
            first = prefixes.index(prefix)
            if first < j:
                problems.append(source.problem((*loc, j), f'"{prefix}" is listed twice'))
                continue
            wider = next((p for p in prefixes if p != prefix and prefix.startswith(p)), None)
            if wider is not None:
                problems.append(
                    source.problem((*loc, j), f'"{prefix}" is already covered by "{wider}"')
                )
    return problems


def _override_problems(source: TomlSource, model: RoutesFile) -> list[ConfigProblem]:
    """A status is either failed over on or final, not both."""
    return [
        source.problem(
            ("carriers", name, "permanent_on", j), f'"{code}" is also in failover_on; pick one'
        )
        for name, c in model.carriers.items()
        for j, code in enumerate(c.permanent_on)
        if code in c.failover_on
    ]


_NUMBER = re.compile(r"^(\+[1-9][0-9]{6,14}|[0-9]{3,8})$")  # E.164, or a 3-8 digit short code


def _keyword_problems(source: TomlSource, model: RoutesFile) -> list[ConfigProblem]:
    """`[keywords]`: each a single word, none in two of the lists."""
    problems: list[ConfigProblem] = []
    seen: dict[str, str] = {}
    for action in ("opt_out", "opt_in", "help"):
        for i, word in enumerate(getattr(model.keywords, action)):
            loc = ("keywords", action, i)
            if not _KEYWORD.match(word.strip()):
                problems.append(source.problem(loc, f"{word!r}: one word of letters or digits"))
                continue
            folded = word.strip().upper()
            if folded in seen and seen[folded] != action:
                problems.append(source.problem(loc, f'"{word}" is already in {seen[folded]}'))
            seen.setdefault(folded, action)
    return problems


# The form of an inbound_url is checked here; its addresses, which depend on the deployment's
# allow-list (`SWITCHBOARD_CALLBACK_ALLOW_PRIVATE`), at every delivery by the SSRF guard.
_ANY_ADDRESS = CallbackPolicy(
    allow_private=(ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))
)


def _inbound_problems(source: TomlSource, model: RoutesFile) -> list[ConfigProblem]:
    """`inbound_url`s are http(s) URLs; `[replies.numbers]` names numbers of `[numbers]`."""
    problems: list[ConfigProblem] = []
    for name, account in model.accounts.items():
        if account.inbound_url is not None:
            try:
                _ANY_ADDRESS.check_url(account.inbound_url)
            except InvalidInput as error:
                problems.append(source.problem(("accounts", name, "inbound_url"), error.reason))
    owned = {n.removeprefix("+") for n in model.numbers}
    for number in model.replies.numbers:
        if number.removeprefix("+") not in owned:
            problems.append(
                source.problem(
                    ("replies", "numbers", number), "not one of [numbers] (no account owns it)"
                )
            )
    return problems


def _texts(model: ReplyTextsModel) -> dict[str, str]:
    return {
        k: v
        for k, v in model.model_dump(include={"help", "stop", "start", "auto"}).items()
        if v is not None
    }


def _number_problems(source: TomlSource, model: RoutesFile) -> list[ConfigProblem]:
    """`[numbers]`: each key an E.164 number or a short code, each value an account name."""
    problems: list[ConfigProblem] = []
    seen: dict[str, str] = {}
    for number, account in model.numbers.items():
        if not _NUMBER.match(number):
            problems.append(
                source.problem(
                    ("numbers", number), 'must be an E.164 number ("+447700900000") or a short code'
                )
            )
        elif number.removeprefix("+") in seen:
            other = seen[number.removeprefix("+")]
            problems.append(source.problem(("numbers", number), f'same number as "{other}"'))
        if not account.strip():
            problems.append(source.problem(("numbers", number), "must name an account"))
        seen.setdefault(number.removeprefix("+"), number)
    return problems


def _route_problems(
    source: TomlSource, model: RoutesFile, price_lists: Mapping[str, Mapping[str, Price]]
) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    names: dict[str, int] = {}
    matches: dict[tuple[str, str | None, str | None], int] = {}
    for i, route in enumerate(model.routes):
        loc = ("routes", i)
        if route.name in names:
            problems.append(
                source.problem(
                    (*loc, "name"),
                    f'duplicate route name "{route.name}" (first at routes[{names[route.name]}])',
                )
            )
        else:
            names[route.name] = i
        key = (route.match.prefix or "", route.match.message_class, route.match.account)
        if key in matches:
            first = matches[key]
            problems.append(
                source.problem(
                    (*loc, "match"),
                    f'never matches: routes[{first}] "{model.routes[first].name}" '
                    "has the same match and comes first",
                )
            )
        else:
            matches[key] = i
        problems += _carrier_problems(source, model, i, route, price_lists)
        problems += _weight_problems(source, i, route)
    return problems


def _carrier_problems(
    source: TomlSource,
    model: RoutesFile,
    i: int,
    route: RouteModel,
    price_lists: Mapping[str, Mapping[str, Price]],
) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    seen: set[str] = set()
    unserved: list[str] = []
    prefix = route.match.prefix
    for j, carrier in enumerate(route.carriers):
        loc = ("routes", i, "carriers", j)
        if carrier in seen:
            problems.append(source.problem(loc, f'carrier "{carrier}" is listed twice'))
            continue
        seen.add(carrier)
        if carrier not in model.carriers:
            problems.append(source.problem(loc, f'unknown carrier "{carrier}"'))
            continue
        if carrier in model.prices and carrier not in price_lists:
            continue  # its price list is broken and already reported
        if prefix is not None and _covers(model.carriers[carrier].exclude_prefixes, prefix):
            unserved.append(carrier)
            continue  # it does not serve this route's numbers: it needs no price for them
        prices = price_lists.get(carrier, {})
        if prefix is None:
            if not prices:
                problems.append(source.problem(loc, f'carrier "{carrier}" has no prices'))
        elif not any(prefix[:end] in prices for end in range(len(prefix), 0, -1)):
            problems.append(source.problem(loc, f'no price for "{prefix}" in prices.{carrier}'))
    if unserved and len(unserved) == len(route.carriers):
        problems.append(
            source.problem(
                ("routes", i, "carriers"),
                f'no carrier serves "{prefix}": each lists it in its exclude_prefixes',
            )
        )
    return problems


def _covers(prefixes: Sequence[str], prefix: str) -> bool:
    """True when one of `prefixes` starts `prefix` (every number under it is covered)."""
    return any(prefix.startswith(p) for p in prefixes)


def _weight_problems(source: TomlSource, i: int, route: RouteModel) -> list[ConfigProblem]:
    loc = ("routes", i, "weights")
    if route.strategy is not Strategy.WEIGHTED:
        if route.weights is not None:
            return [
                source.problem(loc, f'only used by strategy "weighted", not "{route.strategy}"')
            ]
        return []
    if route.weights is None:
        return [source.problem(loc, 'is required for strategy "weighted"')]
    problems = [
        source.problem((*loc, carrier), f'"{carrier}" is not in this route\'s carriers')
        for carrier in route.weights
        if carrier not in route.carriers
    ]
    problems += [
        source.problem(loc, f'no weight for carrier "{carrier}"')
        for carrier in route.carriers
        if carrier not in route.weights
    ]
    total = sum(route.weights.values())
    if total != _WEIGHT_TOTAL:
        problems.append(source.problem(loc, f"must sum to {_WEIGHT_TOTAL}, got {total}"))
    return problems


def _compile(model: RoutesFile, price_lists: Mapping[str, Mapping[str, Price]]) -> RoutingTable:
    carriers = {
        name: CarrierSpec(
            name=name,
            host=c.host,
            port=c.port,
            system_id=c.system_id,
            password=c.password,
            system_type=c.system_type,
            bind=c.bind,
            binds=c.binds,
            window=c.window,
            enquire_link=c.enquire_link,
            mps=c.mps,
            encodings=frozenset(c.encodings),
            otp_reserved_share=c.otp_reserved_share,
            throttle_failover=c.throttle_failover,
            pacing=c.pacing,
            alphanumeric_sender=c.alphanumeric_sender,
            exclude_prefixes=c.exclude_prefixes,
            segment_receipts=c.segment_receipts,
            failover_on=frozenset(c.failover_on),
            permanent_on=frozenset(c.permanent_on),
        )
        for name, c in model.carriers.items()
    }
    routes = [
        Route(
            name=r.name,
            match=Match(r.match.prefix or "", r.match.message_class, r.match.account),
            strategy=r.strategy,
            carriers=r.carriers,
            weights=tuple((r.weights or {}).get(c, 0) for c in r.carriers)
            if r.strategy is Strategy.WEIGHTED
            else (),
            position=i,
            spill=r.spill,
        )
        for i, r in enumerate(model.routes)
    ]
    currency = next(iter(model.prices.values())).currency if model.prices else "EUR"
    accounts = {
        name: AccountSpec(name, a.blocked_prefixes)
        for name, a in model.accounts.items()
        if a.blocked_prefixes
    }
    keywords = {
        "opt_out": model.keywords.opt_out,
        "opt_in": model.keywords.opt_in,
        "help": model.keywords.help,
    }
    replies = model.replies
    inbound = InboundSpec(
        urls={name: a.inbound_url for name, a in model.accounts.items() if a.inbound_url},
        replies=_texts(replies),
        account_replies={name: _texts(t) for name, t in replies.accounts.items()},
        number_replies={n.removeprefix("+"): _texts(t) for n, t in replies.numbers.items()},
        reply_every_minutes=replies.every_minutes,
    )
    return RoutingTable(
        carriers, price_lists, routes, currency, accounts, model.numbers, keywords, inbound
    )
