"""The route registry and the OpenAPI 3.1 document derived from it.

Theory of operation: every API route is declared once, as a `RouteSpec`
(method, path, handler, role, summary, request and response models), in an
`ApiRegistry`. `Api.route` (ivr.web.api) both registers the spec and adds the
route to aiohttp, so the document cannot drift from what is served: it lists
exactly the registered routes, with the schemas pydantic derives from the same
models the handlers validate with. Routes added to the router by hand are not
documented; that is the honest price of not introspecting handlers.

Request bodies use pydantic's validation schema, responses its serialization
schema; both land in `components.schemas` with `$ref`s rewritten to point
there. Every non-public operation carries the `bearerAuth` scheme and an
`x-required-role` extension; public ones have `security: []`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from .auth import Role
from .errors import ErrorBody

OPENAPI_VERSION: Final = "3.1.0"
SECURITY_SCHEME: Final = "bearerAuth"
_REF_TEMPLATE: Final = "#/components/schemas/{model}"
# aiohttp path variables may carry a regex, `{agent:\d+}`; OpenAPI wants `{agent}`.
_PATH_VARIABLE: Final = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::(?:[^{}]|\{[^{}]*\})*)?\}")
_METHODS: Final = frozenset({"GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE"})


@dataclass(frozen=True)
class RouteSpec:
    """One API operation. `role=None` means public (no token)."""

    method: str
    path: str
    handler: Handler
    role: Role | None = Role.VIEWER
    summary: str = ""
    description: str | None = None
    request: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    query: type[BaseModel] | None = None  # the query parameters, one per field (by alias)
    status: int = 200
    tags: tuple[str, ...] = ()
    errors: tuple[int, ...] = ()  # statuses beyond the automatic ones (404, 409, 503...)
    operation_id: str = field(default="")

    def __post_init__(self) -> None:
        if self.method not in _METHODS:
            raise ValueError(f"{self.method} is not an HTTP method")
        if not self.path.startswith("/"):
            raise ValueError(f"path {self.path!r} must start with '/'")

    @property
    def openapi_path(self) -> str:
        return _PATH_VARIABLE.sub(r"{\1}", self.path)

    @property
    def path_parameters(self) -> list[str]:
        return _PATH_VARIABLE.findall(self.path)


class ApiRegistry:
    """The routes of the API, in registration order; one spec per (method, path)."""

    def __init__(self) -> None:
        self._routes: dict[tuple[str, str], RouteSpec] = {}

    def add(self, spec: RouteSpec) -> RouteSpec:
        key = (spec.method, spec.openapi_path)
        if key in self._routes:
            raise ValueError(f"{spec.method} {spec.path} is registered twice")
        self._routes[key] = spec
        return spec

    def __iter__(self) -> Iterator[RouteSpec]:
        return iter(self._routes.values())

    def __len__(self) -> int:
        return len(self._routes)


REGISTRY: Final = web.AppKey("ivr_api_registry", ApiRegistry)


def _operation_id(spec: RouteSpec) -> str:
    if spec.operation_id:
        return spec.operation_id
    words = re.sub(r"[{}]", "", spec.openapi_path).strip("/").replace("/", "_").replace("-", "_")
    return f"{spec.method.lower()}_{words}".rstrip("_")


# (model, mode) -> {"$ref": ...}, as pydantic's models_json_schema returns it.
_Refs = dict[Any, dict[str, Any]]


def _schemas(routes: Iterable[RouteSpec]) -> tuple[_Refs, dict[str, Any]]:
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(ErrorBody, "serialization")]
    for spec in routes:
        if spec.request is not None:
            wanted.append((spec.request, "validation"))
        if spec.response is not None:
            wanted.append((spec.response, "serialization"))
    unique = list(dict.fromkeys(wanted))
    refs, top = models_json_schema(unique, ref_template=_REF_TEMPLATE)
    found: _Refs = dict(refs)
    return found, dict(top.get("$defs", {}))


def _error_response(refs: _Refs, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": refs[(ErrorBody, "serialization")]}},
    }


_ERROR_DESCRIPTIONS: Final = {
    400: "invalid_json or invalid_request",
    401: "unauthorized: missing or unknown bearer token",
    403: "forbidden: the principal's role is too low",
    404: "not_found",
    409: "conflict",
    408: "request_timeout: the body did not arrive in time",
    413: "payload_too_large",
    429: "too_many_requests: too many failed authentications from this address",
    503: "pbx_unavailable",
    500: "internal_error (details.correlation_id)",
}


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """One `in: query` parameter per field of `model`, named by its alias, with its JSON schema."""
    schema = model.model_json_schema(by_alias=True)
    required = set(schema.get("required", ()))
    out = []
    for name, field_schema in schema.get("properties", {}).items():
        parameter: dict[str, Any] = {"name": name, "in": "query", "required": name in required}
        if "description" in field_schema:
            parameter["description"] = field_schema.pop("description")
        field_schema.pop("title", None)
        parameter["schema"] = field_schema
        out.append(parameter)
    return out


def _operation(spec: RouteSpec, refs: _Refs) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": _operation_id(spec), "summary": spec.summary}
    if spec.description:
        op["description"] = spec.description
    if spec.tags:
        op["tags"] = list(spec.tags)
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}} for name in spec.path_parameters
    ]
    statuses = {500, *spec.errors}
    if spec.query is not None:
        parameters.extend(_query_parameters(spec.query))
        statuses.add(400)
    if parameters:
        op["parameters"] = parameters
    if spec.role is None:
        op["security"] = []
    else:
        op["security"] = [{SECURITY_SCHEME: []}]
        op["x-required-role"] = spec.role.value
        statuses |= {401, 403, 429}
    if spec.request is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(spec.request, "validation")]}},
        }
        statuses |= {400, 408, 413}
    ok: dict[str, Any] = {"description": spec.summary or "success"}
    if spec.response is not None:
        ok["content"] = {"application/json": {"schema": refs[(spec.response, "serialization")]}}
    responses: dict[str, Any] = {str(spec.status): ok}
    for status in sorted(statuses):
        responses[str(status)] = _error_response(refs, _ERROR_DESCRIPTIONS.get(status, "error"))
    op["responses"] = responses
    return op


def openapi_spec(source: ApiRegistry | web.Application, *, title: str = "ivr", version: str = "0") -> dict[str, Any]:
    """The OpenAPI 3.1 document of the registered routes (HEAD twins of GETs omitted)."""
    registry = source[REGISTRY] if isinstance(source, web.Application) else source
    routes = list(registry)
    refs, schemas = _schemas(routes)
    paths: dict[str, dict[str, Any]] = {}
    for spec in routes:
        paths.setdefault(spec.openapi_path, {})[spec.method.lower()] = _operation(spec, refs)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "API token; roles viewer < supervisor < admin",
                }
            },
        },
        "security": [{SECURITY_SCHEME: []}],
    }


def openapi_handler(registry: ApiRegistry, *, title: str, version: str) -> Handler:
    """GET handler serving the document; built per request, so late routes appear too."""

    async def serve_openapi(request: web.Request) -> web.StreamResponse:
        return web.json_response(openapi_spec(registry, title=title, version=version))

    return serve_openapi
