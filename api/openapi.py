"""`GET /v1/openapi.json`: the OpenAPI 3.1 document, built from the app itself.

Every route mounted on the app's router is described from its handler's `Operation`
(`api/contract.py`); the schemas are the TypedDicts the handlers build and the validators
accept, turned into JSON Schema 2020-12 by pydantic (OpenAPI 3.1 uses that dialect as it is).
Nothing here is a second copy to keep in step: a route without a contract makes the build
fail, and schemathesis checks the running API against what this produces.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from pydantic import TypeAdapter
from pydantic.json_schema import JsonSchemaMode

from api.contract import Answer, Operation, contract_of, operation
from api.jsonio import dumps
from api.problems import PROBLEM_JSON
from api.wire import OpenApiDocument, Problem

OPENAPI_PATH = "/v1/openapi.json"
_REF = "#/components/schemas/{model}"
_PATH_PARAMETER = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")
_RETRY_AFTER = {429, 503}
_HEADERS: dict[str, dict[str, Any]] = {
    "Location": {"description": "the created resource", "schema": {"type": "string"}},
    "Idempotent-Replayed": {
        "description": "`true` when this is the first answer to the Idempotency-Key again",
        "schema": {"type": "string", "enum": ["true"]},
    },
    "Retry-After": {
        "description": "seconds to wait (RFC 9110 §10.2.3)",
        "schema": {"type": "string"},
    },
    "RateLimit-Policy": {
        "description": "the limit in force (IETF draft-ietf-httpapi-ratelimit-headers)",
        "schema": {"type": "string"},
    },
    "RateLimit": {"description": "what is left of it", "schema": {"type": "string"}},
    "Upgrade": {
        "description": "the protocol switched (or to switch) to",
        "schema": {"type": "string", "enum": ["websocket"]},
    },
    "Connection": {"description": "`Upgrade`", "schema": {"type": "string"}},
    "Sec-WebSocket-Accept": {"description": "RFC 6455 §4.2.2", "schema": {"type": "string"}},
    "Sec-WebSocket-Protocol": {
        "description": "`switchboard` when the key came as a subprotocol",
        "schema": {"type": "string"},
    },
}


class MissingContract(LookupError):
    """A route is mounted whose handler declares no `Operation`."""


class _Schemas:
    """Collects every type's JSON Schema; `ref` answers a placeholder filled by `resolve`."""

    def __init__(self) -> None:
        self._wanted: dict[tuple[int, JsonSchemaMode], tuple[Any, JsonSchemaMode]] = {}

    def ref(self, kind: Any, mode: JsonSchemaMode) -> dict[str, Any]:
        self._wanted[(id(kind), mode)] = (kind, mode)
        return {"$pending": (id(kind), mode)}

    def resolve(self, document: Any) -> tuple[Any, dict[str, Any]]:
        inputs = [(key[0], mode, TypeAdapter(kind)) for key, (kind, mode) in self._wanted.items()]
        by_key, defs = TypeAdapter.json_schemas(inputs, ref_template=_REF)
        components = dict(defs.get("$defs", {}))

        def fill(node: Any) -> Any:
            if isinstance(node, dict):
                if "$pending" in node:
                    return by_key[node["$pending"]]  # (id of the type, mode)
                return {k: fill(v) for k, v in node.items()}
            if isinstance(node, list):
                return [fill(v) for v in node]
            return node

        return fill(document), fill(components)


def _parameters(path: str, spec: Operation) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PATH_PARAMETER.findall(path)
    ]
    found += [
        {
            "name": p.name,
            "in": "query",
            "required": p.required,
            "description": p.description,
            "schema": dict(p.schema),
        }
        for p in spec.query
    ]
    if spec.idempotent:
        found.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "the same key and body within 24 h answer the first answer again",
                "schema": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 255,
                    "pattern": "^[ -~]+$",
                },
            }
        )
    return found


def _answer(answer: Answer, schemas: _Schemas) -> dict[str, Any]:
    out: dict[str, Any] = {"description": answer.description}
    if answer.body is not None:
        out["content"] = {
            answer.content_type: {"schema": schemas.ref(answer.body, "serialization")}
        }
    if answer.headers:
        out["headers"] = {h: _HEADERS[h] for h in answer.headers}
    if answer.frames is not None:
        out["x-websocket-frames"] = schemas.ref(answer.frames, "serialization")
    if answer.links:
        out["links"] = {
            link.name: {
                "operationId": link.operation_id,
                "parameters": {link.parameter: f"$response.body#/{link.field}"},
            }
            for link in answer.links
        }
    return out


def _problem(status: int, codes: tuple[str, ...], richer: Any, schemas: _Schemas) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "allOf": [schemas.ref(Problem, "serialization")],
        "properties": {"code": {"enum": list(codes)}, "status": {"const": status}},
    }
    if richer is not None:
        schema = {"anyOf": [schema, schemas.ref(richer, "serialization")]}
    out: dict[str, Any] = {
        "description": "problem details (RFC 9457), `code`: " + ", ".join(codes),
        "content": {PROBLEM_JSON: {"schema": schema}},
    }
    if status in _RETRY_AFTER:
        out["headers"] = {"Retry-After": _HEADERS["Retry-After"]}
    if status == 429:
        out["headers"] |= {h: _HEADERS[h] for h in ("RateLimit-Policy", "RateLimit")}
    if status == 426:  # RFC 9110 §15.5.22: the protocol to upgrade to
        out["headers"] = {h: _HEADERS[h] for h in ("Upgrade", "Connection")}
    return out


def _operation(path: str, method: str, spec: Operation, schemas: _Schemas) -> dict[str, Any]:
    responses: dict[str, Any] = {
        str(status): _answer(answer, schemas) for status, answer in sorted(spec.answers.items())
    }
    refusals = dict(spec.problems)
    if _PATH_PARAMETER.search(path):  # an id the router does not match: its own 404
        refusals[404] = ("not_found", *(c for c in refusals.get(404, ()) if c != "not_found"))
    for status, codes in sorted(refusals.items()):
        responses[str(status)] = _problem(status, codes, spec.problem_bodies.get(status), schemas)
    out: dict[str, Any] = {
        "operationId": f"{method.lower()}_{re.sub(r'[^a-z0-9]+', '_', path.lower()).strip('_')}",
        "summary": spec.summary.split("\n")[0],
        "tags": [spec.tag],
        "parameters": _parameters(path, spec),
        "responses": responses,
        "security": [] if spec.public else [{"bearer": []}],
    }
    description = " ".join(
        part for part in ("Needs an admin API key." if spec.admin else "", spec.description) if part
    )
    if description:
        out["description"] = description
    if spec.body is not None:
        out["requestBody"] = {
            "required": True,
            "content": {spec.body_media: {"schema": schemas.ref(spec.body, "validation")}},
        }
    return out


def openapi_document(app: web.Application) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route mounted on `app`.

    Raises:
        MissingContract: a mounted route's handler has no `Operation`.
    """
    schemas = _Schemas()
    paths: dict[str, dict[str, Any]] = {}
    for route in app.router.routes():
        if route.method == "HEAD":  # aiohttp's automatic HEAD of every GET
            continue
        if isinstance(route.resource, web.StaticResource):
            continue  # files (the dashboard's scripts), not API operations
        path = route.resource.canonical if route.resource is not None else ""
        spec = contract_of(route.handler)
        if spec is None:
            raise MissingContract(f"{route.method} {path}: its handler declares no Operation")
        paths.setdefault(path, {})[route.method.lower()] = _operation(
            path, route.method, spec, schemas
        )
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "Switchboard",
            "version": "1",
            "description": "SMS/OTP gateway API. Errors are RFC 9457 problem details with a "
            "stable `code`; each response lists the codes it may carry.",
        },
        "paths": paths,
    }
    filled, components = schemas.resolve(document)
    filled["components"] = {
        "schemas": components,
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
    }
    return filled  # type: ignore[no-any-return]  # built from dicts above


class DocumentCache:
    """The document, encoded once per app (the router is frozen by the first request)."""

    def __init__(self) -> None:
        self.body: bytes | None = None


OPENAPI = web.AppKey("openapi", DocumentCache)


@operation(
    Operation(
        "The OpenAPI 3.1 document of this API",
        {200: Answer("this document", OpenApiDocument)},
        public=True,
        tag="meta",
    )
)
async def openapi_json(request: web.Request) -> web.Response:
    """GET /v1/openapi.json (no key needed): this API's contract."""
    cache = request.app[OPENAPI]
    if cache.body is None:
        cache.body = dumps(openapi_document(request.app))
    return web.Response(body=cache.body, content_type="application/json")
