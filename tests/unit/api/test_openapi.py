"""The OpenAPI document is built from the mounted routes and the handlers' own contracts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from aiohttp import web

from api import ApiServices, GroupCommitter, make_app
from api.contract import contract_of
from api.openapi import MissingContract, openapi_document
from api.otp import OtpServices, add_otp_routes
from api.schemas import SendBody
from api.services import OPT_OUTS, READ_POOL, READER
from messaging import parse_e164


class _Store:
    """Just enough of a MessageStore for make_app (nothing is read: no request is made)."""

    engine = None

    def __getattr__(self, name: str) -> Any:
        return lambda *args: None


@pytest.fixture
def app() -> Iterator[web.Application]:
    services = ApiServices(
        store=cast(Any, _Store()),
        committer=cast(GroupCommitter, object()),
        clock=lambda: datetime(2026, 12, 1, tzinfo=UTC),
    )
    application = make_app(services)
    add_otp_routes(application, cast(OtpServices, cast(Any, _OtpServices())))
    yield application
    application[READER].close()
    application[OPT_OUTS].close()
    application[READ_POOL].shutdown()


class _OtpServices:
    store = None
    config = None


def _routes(app: web.Application) -> set[tuple[str, str]]:
    """Every mounted operation but files (the dashboard's scripts)."""
    routes = set()
    for r in app.router.routes():
        if r.method == "HEAD" or r.resource is None or isinstance(r.resource, web.StaticResource):
            continue
        assert contract_of(r.handler) is not None, f"{r.method} {r.resource.canonical}"
        routes.add((r.method.lower(), r.resource.canonical))
    return routes


def test_the_page_the_stream_and_the_metrics_are_in_the_document(app: web.Application) -> None:
    paths = openapi_document(app)["paths"]
    page = paths["/dashboard"]["get"]
    assert page["security"] == [] and set(page["responses"]["200"]["content"]) == {"text/html"}
    metrics = paths["/metrics"]["get"]
    assert metrics["security"] == [{"bearer": []}] and "admin" in metrics["description"]
    assert set(metrics["responses"]["200"]["content"]) == {"text/plain; version=0.0.4"}
    assert "admin_required" in str(metrics["responses"]["403"])
    stream = paths["/v1/stream"]["get"]
    switching = stream["responses"]["101"]
    assert "content" not in switching  # a 101 has no body: the frames follow it
    assert {"Upgrade", "Sec-WebSocket-Accept"} <= set(switching["headers"])
    assert "websocket_upgrade_required" in str(stream["responses"]["426"])
    assert set(stream["responses"]["426"]["headers"]) == {"Upgrade", "Connection"}
    assert [p["name"] for p in stream["parameters"]] == ["feed"]
    assert "Sec-WebSocket-Protocol: switchboard, <key>" in stream["description"]


def test_the_streams_frames_are_schemas_of_the_document(app: web.Application) -> None:
    document = openapi_document(app)
    frames = document["paths"]["/v1/stream"]["get"]["responses"]["101"]["x-websocket-frames"]
    schemas = document["components"]["schemas"]
    kinds = {
        schemas[ref["$ref"].rsplit("/", 1)[1]]["properties"]["type"]["const"]
        for ref in frames["anyOf"]
    }
    assert kinds == {"ready", "status", "figures", "campaigns"}
    assert schemas["StatusEventJson"]["additionalProperties"] is False


def test_campaign_routes_are_documented_with_their_wire_types(app: web.Application) -> None:
    paths = openapi_document(app)["paths"]
    create = paths["/v1/campaigns"]["post"]
    body = create["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/CampaignBody"}
    assert set(create["responses"]["201"]["links"]) == {
        "GetCampaign",
        "LoadAudience",
        "Act",
        "GetReport",
    }
    upload = paths["/v1/campaigns/{id}/audience"]["put"]
    assert upload["requestBody"]["content"] == {"text/csv": {"schema": {"type": "string"}}}
    assert "400" not in upload["responses"]  # no JSON body: no malformed_json
    codes = upload["responses"]["422"]["content"]["application/problem+json"]["schema"][
        "properties"
    ]["code"]["enum"]
    assert {"audience_not_csv", "audience_missing_to"} <= set(codes)
    action = paths["/v1/campaigns/{id}/{action}"]["post"]["responses"]
    assert "campaign_state_conflict" in str(action["409"]) and "not_found" in str(action["404"])
    report = paths["/v1/campaigns/{id}/report.csv"]["get"]["responses"]["200"]["content"]
    assert set(report) == {"text/csv"}


def test_document_describes_every_route_with_its_problem_codes(app: web.Application) -> None:
    document = openapi_document(app)
    described = {(m, p) for p, ops in document["paths"].items() for m in ops}
    assert described == _routes(app)
    send = document["paths"]["/v1/messages"]["post"]
    assert {"202", "400", "401", "403", "409", "413", "422", "429", "500", "503"} <= set(
        send["responses"]
    )
    codes_422 = send["responses"]["422"]["content"]["application/problem+json"]["schema"][
        "properties"
    ]["code"]["enum"]
    assert {"invalid_input", "invalid_number", "callback_url_forbidden"} <= set(codes_422)
    assert document["paths"]["/health"]["get"]["security"] == []
    assert "403" in document["paths"]["/v1/admin/otp/blocks"]["get"]["responses"]


def test_request_schema_is_the_validators_field_set(app: web.Application) -> None:
    document = openapi_document(app)
    schema = document["components"]["schemas"]["SendBody"]
    assert set(schema["properties"]) == SendBody.__required_keys__ | SendBody.__optional_keys__
    assert schema["additionalProperties"] is False
    assert schema["properties"]["body"]["maxLength"] == 1600


def test_a_route_without_a_contract_fails_the_build(app: web.Application) -> None:
    async def undocumented(_request: web.Request) -> web.Response:
        return web.Response()

    app.router.add_get("/v1/undocumented", undocumented)
    with pytest.raises(MissingContract, match="GET /v1/undocumented"):
        openapi_document(app)


def test_every_example_number_in_the_document_is_one_the_api_accepts(
    app: web.Application,
) -> None:
    # the examples are what schemathesis (and a reader) sends first: a refused one tests nothing
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for value in node.get("examples", []) if "examples" in node else []:
                if isinstance(value, str) and value.startswith("+"):
                    found.append(value)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(openapi_document(app))
    assert found  # to, number, the route explainer's query
    for number in found:
        assert parse_e164(number).e164 == number
