"""The HTTP API layer: errors, bearer auth with roles, JSON bodies, OpenAPI, the audit page.

The composition root builds one `Api(tokens, public_paths=...)`, declares
routes with `api.route(...)` and mounts it with `api.setup(app)`.
"""

from .api import OPENAPI_PATH, Api
from .audit import AUDIT, AuditPage, AuditQuery, list_audit
from .auth import (
    PRINCIPAL,
    Principal,
    Role,
    TokenConfigError,
    TokenStore,
    auth_middleware,
    public,
    require,
)
from .body import DEFAULT_MAX_BODY, model_response, read_json, read_query
from .errors import (
    ApiError,
    Conflict,
    ErrorBody,
    Forbidden,
    InternalError,
    InvalidJson,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    PbxUnavailable,
    TooManyRequests,
    Unauthorized,
    error_middleware,
)
from .openapi import REGISTRY, ApiRegistry, RouteSpec, openapi_spec

__all__ = [
    "AUDIT",
    "DEFAULT_MAX_BODY",
    "OPENAPI_PATH",
    "PRINCIPAL",
    "REGISTRY",
    "Api",
    "ApiError",
    "ApiRegistry",
    "AuditPage",
    "AuditQuery",
    "Conflict",
    "ErrorBody",
    "Forbidden",
    "InternalError",
    "InvalidJson",
    "InvalidRequest",
    "MethodNotAllowed",
    "NotFound",
    "PayloadTooLarge",
    "PbxUnavailable",
    "Principal",
    "Role",
    "RouteSpec",
    "TokenConfigError",
    "TokenStore",
    "TooManyRequests",
    "Unauthorized",
    "auth_middleware",
    "error_middleware",
    "list_audit",
    "model_response",
    "openapi_spec",
    "public",
    "read_json",
    "read_query",
    "require",
]
