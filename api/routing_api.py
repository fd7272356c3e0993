"""GET /v1/routes/explain (admin) and GET /v1/pricing: the routing engine's answers over HTTP."""

from __future__ import annotations

from aiohttp import web

from api.contract import Answer, Operation, Param, operation
from api.jsonio import json_response
from api.problems import ApiProblem
from api.schemas import EXAMPLE_NUMBER
from api.services import OWNER, SERVICES
from api.wire import Price, RouteDecision
from messaging import InvalidInput, MessageClass, parse_e164, segment
from routing import RouteRequest, RoutingTable, Snapshot, decision_json, explain

_QUERY = (
    Param("to", {"type": "string", "examples": [EXAMPLE_NUMBER]}, "E.164", required=True),
    Param("class", {"type": "string", "enum": [c.value for c in MessageClass]}, "traffic class"),
    Param("account", {"type": "string"}, "another account's name (admin keys only)"),
)
_EXPLAIN_QUERY = (
    *_QUERY,
    Param("body", {"type": "string"}, "a text, for its encoding and segments"),
    Param("from", {"type": "string"}, "the sender id"),
    Param("message_id", {"type": "string"}, "the id the weighted split hashes"),
)
_ROUTING = {422: ("invalid_number", "no_route"), 503: ("routing_unavailable",)}


def _table(request: web.Request) -> RoutingTable:
    routes = request.app[SERVICES].routes
    if routes is None:
        raise ApiProblem(
            503, "routing_unavailable", "Routing unavailable", "no routing table is loaded"
        )
    return routes()


def _request_from_query(request: web.Request) -> RouteRequest:
    query = request.query
    number = parse_e164(query.get("to", ""))
    raw_class = query.get("class", MessageClass.TRANSACTIONAL.value)
    try:
        message_class = MessageClass(raw_class)
    except ValueError:
        allowed = ", ".join(c.value for c in MessageClass)
        raise InvalidInput("class", f"must be one of {allowed}") from None
    seg = segment(query.get("body", "x"))
    return RouteRequest(
        message_id=query.get("message_id", "explain"),
        to=number.e164,
        message_class=message_class,
        segments=seg.segments,
        encoding=seg.encoding,
        account=query.get("account") or request[OWNER].account_name,
        sender=query.get("from", ""),
    )


@operation(
    Operation(
        "The routing engine's whole decision for a number (admin)",
        {200: Answer("the decision", RouteDecision)},
        _ROUTING,
        query=_EXPLAIN_QUERY,
        admin=True,
        tag="routing",
    )
)
async def explain_route(request: web.Request) -> web.Response:
    """GET /v1/routes/explain?to=&class=[&account=&body=&from=] (admin): the whole decision.

    The JSON is `routing.decision_json`, the same `switchboard routes explain --json` prints.
    """
    route_request = _request_from_query(request)
    decision = explain(route_request, _table(request), Snapshot.empty())
    return json_response(decision_json(route_request, decision))


@operation(
    Operation(
        "The per-segment price of the carrier a number routes to",
        {200: Answer("the price", Price)},
        {403: ("forbidden",), **_ROUTING},
        query=_QUERY,
        tag="routing",
    )
)
async def pricing(request: web.Request) -> web.Response:
    """GET /v1/pricing?to=[&class=&account=]: the per-segment price of the carrier this number
    routes to. `account` other than the key's own needs an admin key (403 `forbidden`): price
    rules are per account, and one tenant's are not another's to read."""
    owner = request[OWNER]
    asked = request.query.get("account")
    if asked and asked != owner.account_name and not owner.is_admin:
        raise ApiProblem(
            403, "forbidden", "Forbidden", "only an admin API key may read another account's prices"
        )
    route_request = _request_from_query(request)
    decision = explain(route_request, _table(request), Snapshot.empty())
    if not decision.candidates:
        raise decision.no_route()
    best = decision.candidates[0]
    answer: Price = {
        "to": route_request.to,
        "class": route_request.message_class.value,
        "price_per_segment": str(best.price_per_segment),
        "currency": best.currency,
    }
    return json_response(answer)
