"""The HTTP API layer: errors, bearer auth with roles, JSON bodies, OpenAPI, audit.

The composition root builds one `Api(tokens, public_paths=...)`, declares
routes with `api.route(...)` and mounts it with `api.setup(app)`.
"""

from .api import OPENAPI_PATH, Api
from .audit import (
    AuditEntry,
    AuditPage,
    AuditQuery,
    AuditTrail,
    MemoryAuditTrail,
    SqliteAuditTrail,
    audit_handler,
)
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
    "DEFAULT_MAX_BODY",
    "OPENAPI_PATH",
    "PRINCIPAL",
    "REGISTRY",
    "Api",
    "ApiError",
    "ApiRegistry",
    "AuditEntry",
    "AuditPage",
    "AuditQuery",
    "AuditTrail",
    "Conflict",
    "ErrorBody",
    "Forbidden",
    "InternalError",
    "InvalidJson",
    "InvalidRequest",
    "MemoryAuditTrail",
    "MethodNotAllowed",
    "NotFound",
    "PayloadTooLarge",
    "PbxUnavailable",
    "Principal",
    "Role",
    "RouteSpec",
    "SqliteAuditTrail",
    "TokenConfigError",
    "TokenStore",
    "TooManyRequests",
    "Unauthorized",
    "audit_handler",
    "auth_middleware",
    "error_middleware",
    "model_response",
    "openapi_spec",
    "public",
    "read_json",
    "read_query",
    "require",
]
