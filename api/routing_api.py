"""GET /v1/routes/explain (admin) and GET /v1/pricing: the routing engine's answers over HTTP."""

from __future__ import annotations

from aiohttp import web

from api.jsonio import json_response
from api.problems import ApiProblem
from api.services import OWNER, SERVICES
from messaging import InvalidInput, MessageClass, parse_e164, segment
from routing import RouteRequest, RoutingTable, Snapshot, decision_json, explain


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


async def explain_route(request: web.Request) -> web.Response:
    """GET /v1/routes/explain?to=&class=[&account=&body=&from=] (admin): the whole decision.

    The JSON is `routing.decision_json`, the same `switchboard routes explain --json` prints.
    """
    if not request[OWNER].is_admin:
        raise ApiProblem(403, "admin_required", "Forbidden", "this endpoint needs an admin API key")
    route_request = _request_from_query(request)
    decision = explain(route_request, _table(request), Snapshot.empty())
    return json_response(decision_json(route_request, decision))


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
    return json_response(
        {
            "to": route_request.to,
            "class": route_request.message_class.value,
            "price_per_segment": str(best.price_per_segment),
            "currency": best.currency,
        }
    )
