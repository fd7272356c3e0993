"""`switchboard routes check|explain|diff`: the operator's view of a routing file.

Holds no routing logic: it loads tables with `routing.load_routes`, asks `routing.explain`
and `routing.diff.diff_tables`, and prints what they say.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from messaging import ConfigError, Encoding, MessageClass
from routing import (
    HEALTHY,
    CarrierChange,
    CarrierHealth,
    CarrierPacing,
    CarrierSpec,
    Circuit,
    Route,
    RouteRequest,
    RoutingTable,
    SegmentReceipts,
    Snapshot,
    decision_json,
    diff_tables,
    explain,
    load_routes,
)

DEFAULT_FILE = Path("config/routes.toml")
_NUMBER = re.compile(r"^\+[0-9]{1,15}$")

routes_app = typer.Typer(
    help="Check, explain and diff routing files", no_args_is_help=True, add_completion=False
)


def _console() -> Console:
    # Wide enough that tables are not cut in pipes and CI logs (no terminal to measure).
    return Console(width=120, highlight=False)


def _load(path: Path, console: Console) -> RoutingTable:
    try:
        return load_routes(path)
    except ConfigError as exc:
        for problem in exc.problems:
            console.print(str(problem), markup=False)
        noun = "problem" if len(exc.problems) == 1 else "problems"
        console.print(f"{path}: {len(exc.problems)} {noun}", markup=False)
        raise typer.Exit(1) from None


def _live_health(table: RoutingTable) -> dict[str, CarrierHealth] | None:
    """Every carrier's health (score, circuit) as the workers read it from Redis; None when
    no Redis is configured (the embedded one lives only as long as its stack)."""
    # Imported here: `workers` pulls in Celery, which the offline commands do not need.
    from carriers import RedisHealthStore
    from ratelimit import limits_client
    from switchboard.settings import Settings

    url = Settings().redis_url
    if not url:
        return None
    views = RedisHealthStore(limits_client(url)).views(table.carriers)
    return {n: CarrierHealth(v.score, Circuit(v.circuit.value)) for n, v in views.items()}


def _print_live(
    console: Console,
    table: RoutingTable,
    carriers: list[str],
    health: dict[str, CarrierHealth] | None,
) -> None:
    """Each carrier's live health (score, circuit and what made the score), adaptive pace
    (AIMD after throttles) and what an "auto" carrier showed of its multipart receipts."""
    from carriers import RedisHealthStore, RedisSegmentLearner
    from ratelimit import Pacing, RedisTokenBuckets, limits_client
    from switchboard.settings import Settings
    from workers import pace_key

    url = Settings().redis_url
    if health is None or not url:
        console.print("live pace: SWITCHBOARD_REDIS_URL is not set (embedded Redis)", markup=False)
        return
    client = limits_client(url)
    buckets = RedisTokenBuckets(client)
    for carrier in carriers:
        pace = buckets.pace(pace_key(carrier), Pacing())
        mps = table.carriers[carrier].mps
        note = "" if pace >= 1.0 else " (cut after throttles, growing back)"
        console.print(
            f"live pace: {carrier} {pace:.0%} of {mps} MPS = {pace * mps:.0f}/s{note}",
            markup=False,
        )
    for carrier, view in RedisHealthStore(client).views(health).items():
        console.print(f"live health: {carrier} {view.describe()}", markup=False, soft_wrap=True)
    auto = [c for c in carriers if table.carriers[c].segment_receipts is SegmentReceipts.AUTO]
    for carrier, learnt in RedisSegmentLearner(client).learnt(auto).items():
        console.print(f"live receipts: {carrier} {learnt.describe()}", markup=False, soft_wrap=True)


# What each `pacing` of a carrier does, for a person on call.
_PACING = {
    CarrierPacing.AUTO: "two senders; one at a time, 1/MPS apart, while cut after a throttle",
    CarrierPacing.WINDOW: "counts a 1-s window: two senders, never one only",
    CarrierPacing.BURST1: "burst 1: one sender at a time, every two submits 1/MPS apart",
}


def _pacing_line(spec: CarrierSpec) -> str:
    """How the send workers pace `spec` and settle its multipart messages."""
    return (
        f"pacing: {spec.name} {spec.pacing} ({_PACING[spec.pacing]}); "
        f"segment_receipts {spec.segment_receipts}"
    )


def _spill_line(route: Route, message_class: MessageClass) -> str:
    """Whether this route's messages of `message_class` spill to the next candidate with MPS
    tokens, and where that comes from (the file's `spill`, or the class default)."""
    why = (
        f"spill = {str(route.spill).lower()}"
        if route.spill is not None
        else f"{message_class} default"
    )
    if route.spills(message_class):
        return (
            f"spill: on ({why}): a message the first candidate has no MPS token for now goes "
            "to the next one with a token"
        )
    return f"spill: off ({why}): a message waits for its candidate's MPS tokens"


def _normalise(number: str) -> str:
    """``+44 7700-900 123`` → ``+447700900123``: any ``+`` and digits, even if not dialable."""
    compact = re.sub(r"[\s\-().]", "", number)
    if not _NUMBER.match(compact):
        raise typer.BadParameter(f"{number!r} is not '+' and up to 15 digits", param_hint="NUMBER")
    return compact


@routes_app.command("check")
def check(
    file: Annotated[Path, typer.Argument(help="routing file")] = DEFAULT_FILE,
) -> None:
    """Validate a routing file; print every problem (exit 1) or a one-line summary."""
    console = _console()
    table = _load(file, console)
    prices = sum(len(p) for p in table.price_lists.values())
    console.print(
        f"{file}: ok — {len(table.carriers)} carriers, {len(table.routes)} routes, "
        f"{prices} prices ({table.currency})",
        markup=False,
    )
    for line in _summary(table):
        console.print(line, markup=False, soft_wrap=True)


def _summary(table: RoutingTable) -> list[str]:
    """What the file says, one line per carrier, route and account rule, for a person on call."""
    lines = ["carriers:"]
    for c in table.carriers.values():
        served = f"; does not serve {', '.join(c.exclude_prefixes)}" if c.exclude_prefixes else ""
        listed = len(table.price_lists.get(c.name, {}))
        lines.append(
            f"  {c.name}: {c.host}:{c.port}, {c.mps} MPS ({c.otp_reserved_share:.0%} for OTP), "
            f"{c.binds or 'one per process'} x {c.bind} window {c.window}, "
            f"{listed} prices{served}"
        )
        lines.append(f"    {_pacing_line(c)}")
    lines.append("routes (most specific match wins):")
    for r in table.routes:
        match = r.match
        fits = ", ".join(
            part
            for part in (
                match.prefix and f"prefix {match.prefix}",
                match.message_class and f"class {match.message_class}",
                match.account and f"account {match.account}",
            )
            if part
        )
        carriers = (
            ", ".join(f"{c} {w}%" for c, w in zip(r.carriers, r.weights, strict=True))
            if r.weights
            else ", ".join(r.carriers)
        )
        spill = "" if r.spill is None else f", spill = {str(r.spill).lower()}"
        lines.append(f"  {r.name}: {fits or 'everything else'} → {r.strategy}: {carriers}{spill}")
    if table.accounts:
        lines.append("accounts:")
        lines += [
            f"  {a.name}: blocked from {', '.join(a.blocked_prefixes)}"
            for a in table.accounts.values()
        ]
    return lines


@routes_app.command("explain")
def explain_number(
    number: Annotated[str, typer.Argument(help="destination, E.164 (+ and digits)")],
    message_class: Annotated[
        MessageClass, typer.Option("--class", "-c", help="traffic class")
    ] = MessageClass.TRANSACTIONAL,
    account: Annotated[str | None, typer.Option("--account", "-a", help="sending account")] = None,
    file: Annotated[Path, typer.Option("--file", "-f", help="routing file")] = DEFAULT_FILE,
    segments: Annotated[int, typer.Option("--segments", min=1, help="SMS parts")] = 1,
    encoding: Annotated[Encoding, typer.Option("--encoding", help="alphabet")] = Encoding.GSM7,
    sender: Annotated[str, typer.Option("--sender", help="sender id")] = "",
    message_id: Annotated[
        str, typer.Option("--message-id", help="id hashed by weighted routes")
    ] = "explain",
    down: Annotated[
        list[str] | None,
        typer.Option("--down", help="treat this carrier's circuit as open (repeatable)"),
    ] = None,
    tokens: Annotated[
        list[str] | None,
        typer.Option("--tokens", help="CARRIER=N: tokens left in its MPS bucket (repeatable)"),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="print the JSON of GET /v1/routes/explain")
    ] = False,
    live: Annotated[
        bool,
        typer.Option(
            "--live",
            help="route on live health and show it, with each carrier's adaptive pace "
            "(SWITCHBOARD_REDIS_URL)",
        ),
    ] = False,
) -> None:
    """Show the ordered candidates for a number and why every other carrier was left out."""
    console = _console()
    to = _normalise(number)
    table = _load(file, console)
    health = _live_health(table) if live else None
    snapshot = _snapshot(table, down or [], tokens or [], health)
    request = RouteRequest(message_id, to, message_class, segments, encoding, account, sender)
    decision = explain(request, table, snapshot)
    if as_json:
        typer.echo(json.dumps(decision_json(request, decision), indent=2))
        return
    who = f" for account {account}" if account else ""
    if decision.route_name is None:
        console.print(f"{to} ({message_class}{who}): no route matches", markup=False)
    else:
        console.print(
            f"{to} ({message_class}{who}, {segments} segment(s), {encoding}): "
            f'route "{decision.route_name}"',
            markup=False,
        )
    if decision.candidates:
        candidates = Table(title="Candidates, in the order they are tried")
        for column in ("#", "carrier", "per segment", "cost", "score", "why here"):
            candidates.add_column(column, justify="right" if column in {"#", "score"} else "left")
        for rank, c in enumerate(decision.candidates, start=1):
            candidates.add_row(
                str(rank),
                c.carrier,
                f"{_money(c.price_per_segment)} {c.currency}",
                f"{_money(c.cost)} {c.currency}",
                f"{c.score:.2f}",
                c.reason,
            )
        console.print(candidates)
    else:
        console.print("no candidates: the message would fail with no_route", markup=False)
        if decision.route_name is not None:
            for reason in decision.no_route().reasons:
                console.print(f"  {reason}", markup=False)
    if decision.demoted:
        console.print(
            "tried last, over its MPS share: "
            + "; ".join(f"{d.carrier} ({d.detail})" for d in decision.demoted),
            markup=False,
            soft_wrap=True,
        )
    for c in decision.candidates:
        console.print(_pacing_line(table.carriers[c.carrier]), markup=False, soft_wrap=True)
    chosen = table.route_named(decision.route_name) if decision.route_name else None
    if chosen is not None and decision.candidates:
        console.print(_spill_line(chosen, message_class), markup=False, soft_wrap=True)
    if live:
        _print_live(console, table, [c.carrier for c in decision.candidates], health)
    if decision.excluded:
        left_out = Table(title="Left out")
        for column in ("carrier", "reason", "detail"):
            left_out.add_column(column)
        for e in decision.excluded:
            left_out.add_row(e.carrier, str(e.reason), e.detail)
        console.print(left_out)


def _snapshot(
    table: RoutingTable,
    down: list[str],
    tokens: list[str],
    live: dict[str, CarrierHealth] | None = None,
) -> Snapshot:
    """The health the operator asks to assume — open circuits and bucket levels by carrier —
    over the live health when given."""
    levels: dict[str, float] = {}
    for item in tokens:
        name, _, raw = item.partition("=")
        try:
            levels[name] = float(raw)
        except ValueError:
            raise typer.BadParameter(f"{item!r} is not CARRIER=N", param_hint="--tokens") from None
        if not levels[name] >= 0:
            raise typer.BadParameter(f"{item!r}: N must be >= 0", param_hint="--tokens")
    for names, hint in ((down, "--down"), (list(levels), "--tokens")):
        unknown = sorted(set(names) - set(table.carriers))
        if unknown:
            raise typer.BadParameter(f"unknown carrier {', '.join(unknown)}", param_hint=hint)
    base = live or {}
    return Snapshot.of(
        {
            name: CarrierHealth(
                score=base.get(name, HEALTHY).score,
                circuit=Circuit.OPEN if name in down else base.get(name, HEALTHY).circuit,
                capacity_left=levels.get(name),
            )
            for name in {*down, *levels, *base}
        }
    )


@routes_app.command("diff")
def diff(
    old: Annotated[Path, typer.Argument(help="routing file in force")],
    new: Annotated[Path, typer.Argument(help="proposed routing file")],
) -> None:
    """Prefixes whose price or carriers change between two routing files (at full health)."""
    console = _console()
    before, after = _load(old, console), _load(new, console)
    changes = diff_tables(before, after)
    if not changes:
        console.print("no routing or price changes", markup=False)
        return
    if changes.prices:
        prices = Table(title="Price changes (per segment)")
        for column in ("carrier", "prefix", "old", "new"):
            prices.add_column(column)
        for p in changes.prices:
            prices.add_row(p.carrier, p.prefix, _money(p.old), _money(p.new))
        console.print(prices)
    if changes.carriers:
        carriers = Table(title="Traffic that goes another way")
        for column in ("prefix", "class", "account", "old route: carriers", "new route: carriers"):
            carriers.add_column(column)
        # One row per change, naming the classes it applies to ("all" when every class).
        classes: dict[CarrierChange, list[str]] = {}
        for c in changes.carriers:
            key = replace(c, message_class=MessageClass.OTP)
            classes.setdefault(key, []).append(str(c.message_class))
        for c, names in classes.items():
            carriers.add_row(
                c.prefix,
                "all" if len(names) == len(MessageClass) else ", ".join(names),
                c.account or "*",
                _way(c.old_route, c.old),
                _way(c.new_route, c.new),
            )
        console.print(carriers)
    if changes.exclusions:
        exclusions = Table(title="Exclusion changes")
        for column in ("", "who", "prefix", "meaning"):
            exclusions.add_column(column)
        for e in changes.exclusions:
            who = f"{e.section}.{e.name}"
            if e.section == "carriers":
                meaning = f"{e.name} {'no longer serves' if e.added else 'now serves'} {e.prefix}"
            else:
                verb = "may no longer" if e.added else "may now"
                meaning = f"account {e.name} {verb} send to {e.prefix}"
            exclusions.add_row("+" if e.added else "-", who, e.prefix, meaning)
        console.print(exclusions)


def _money(amount: Decimal | None) -> str:
    return "-" if amount is None else f"{amount:.4f}"


def _way(route_name: str | None, carriers: tuple[str, ...]) -> str:
    if route_name is None:
        return "(no route)"
    return f"{route_name}: {', '.join(carriers) or '(none)'}"


@routes_app.command("reload")
def reload(
    file: Annotated[Path, typer.Argument(help="routing file")] = DEFAULT_FILE,
) -> None:
    """Validate the file, then signal every API and worker process to swap it in.

    Processes watch the file's mtime (checked each second); an invalid file is refused here
    with its errors, and would be refused by every process too, keeping the running table.
    """
    console = _console()
    _load(file, console)
    os.utime(file)  # the signal: every RoutesWatcher sees a new mtime within a second
    console.print(f"{file}: valid; running processes swap it in within a second", markup=False)
