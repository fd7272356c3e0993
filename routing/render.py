"""`decision_json`: a routing decision as plain JSON data, the same for the API and the CLI."""

from __future__ import annotations

from typing import Any

from routing.candidate import Candidate
from routing.engine import Decision, Excluded, RouteRequest


def candidate_json(candidate: Candidate) -> dict[str, Any]:
    """One candidate; money as decimal strings so no float rounding creeps in."""
    return {
        "carrier": candidate.carrier,
        "route": candidate.route,
        "price_per_segment": str(candidate.price_per_segment),
        "cost": str(candidate.cost),
        "currency": candidate.currency,
        "score": candidate.score,
        "reason": candidate.reason,
    }


def _excluded_json(excluded: Excluded) -> dict[str, str]:
    return {"carrier": excluded.carrier, "reason": excluded.reason.value, "detail": excluded.detail}


def decision_json(request: RouteRequest, decision: Decision) -> dict[str, Any]:
    """What `GET /v1/routes/explain` answers and `switchboard routes explain --json` prints."""
    return {
        "to": request.to,
        "class": request.message_class.value,
        "account": request.account,
        "segments": request.segments,
        "encoding": request.encoding.value,
        "route": decision.route_name,
        "candidates": [candidate_json(c) for c in decision.candidates],
        "excluded": [_excluded_json(e) for e in decision.excluded],
        "demoted": [_excluded_json(e) for e in decision.demoted],
    }
