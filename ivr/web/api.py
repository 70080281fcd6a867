"""`Api`: the one object the composition root uses to mount the HTTP API.

Theory of operation: `Api` owns the token store, the route registry and the
public-path allow-list. `api.route(...)` declares an operation once; that
declaration is the route aiohttp serves, the role `auth_middleware` enforces
and the entry `/api/openapi.json` documents. `api.setup(app)` installs, in
order, `error_middleware` (outermost, so it renders the auth errors too) and
`auth_middleware`, then adds the OpenAPI route and every declared route;
routes declared after `setup` go straight to the app's router. Every response
(errors and streams included) gets the security headers of `headers.py`.

The handler passed to `route` is wrapped, not modified, so one function may be
mounted on two routes with different roles.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable
from typing import Final

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from pydantic import BaseModel

from .auth import Role, TokenStore, auth_middleware, public, require
from .errors import error_middleware
from .headers import security_headers
from .openapi import REGISTRY, ApiRegistry, RouteSpec, openapi_handler
from .throttle import FailureThrottle

OPENAPI_PATH: Final = "/api/openapi.json"


class Api:
    """Token store + route registry + middlewares, mounted on an app by `setup`."""

    def __init__(
        self,
        tokens: TokenStore,
        *,
        public_paths: Iterable[str] = (),
        throttle: FailureThrottle | None = None,
        clock: Callable[[], float] = time.monotonic,
        title: str = "ivr",
        version: str = "0",
        openapi_path: str | None = OPENAPI_PATH,
        openapi_role: Role | None = Role.VIEWER,
    ) -> None:
        self.tokens = tokens
        self.public_paths = frozenset(public_paths)
        self.throttle = throttle if throttle is not None else FailureThrottle()
        self.clock = clock
        self.title = title
        self.version = version
        self.registry = ApiRegistry()
        self._app: web.Application | None = None
        if openapi_path is not None:
            self.route(
                "GET", openapi_path, openapi_handler(self.registry, title=title, version=version),
                role=openapi_role, summary="This API's OpenAPI 3.1 document", tags=("meta",),
            )  # fmt: skip

    def route(
        self,
        method: str,
        path: str,
        handler: Handler,
        *,
        role: Role | str | None = Role.VIEWER,
        summary: str = "",
        description: str | None = None,
        request: type[BaseModel] | None = None,
        response: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        status: int = 200,
        tags: Iterable[str] = (),
        errors: Iterable[int] = (),
        operation_id: str = "",
    ) -> RouteSpec:
        """Declare and serve one operation; `role=None` makes it public.

        `request` and `response` document the bodies; the handler still reads
        its body with `read_json(request, Model)` and answers with
        `model_response(...)`.
        """
        needed = None if role is None else Role(role)

        async def endpoint(req: web.Request) -> web.StreamResponse:
            return await handler(req)

        functools.update_wrapper(endpoint, handler)
        endpoint = public(endpoint) if needed is None else require(needed)(endpoint)
        spec = self.registry.add(
            RouteSpec(
                method=method.upper(), path=path, handler=endpoint, role=needed, summary=summary,
                description=description, request=request, response=response, query=query, status=status,
                tags=tuple(tags), errors=tuple(errors), operation_id=operation_id,
            )
        )  # fmt: skip
        if self._app is not None:
            self._add(self._app, spec)
        return spec

    def middlewares(self) -> list[Middleware]:
        """Error rendering (outermost) then authentication, for `web.Application(middlewares=)`."""
        return [
            error_middleware,
            auth_middleware(self.tokens, public_paths=self.public_paths, throttle=self.throttle, clock=self.clock),
        ]

    def setup(self, app: web.Application, *, install_middlewares: bool = True) -> None:
        """Mount on `app` (before it starts). Pass `install_middlewares=False` if the
        app was built with `middlewares=api.middlewares()` to control their order."""
        if self._app is not None:
            raise RuntimeError("this Api is already mounted")
        app[REGISTRY] = self.registry
        app.on_response_prepare.append(security_headers)
        if install_middlewares:
            app.middlewares.extend(self.middlewares())
        for spec in self.registry:
            self._add(app, spec)
        self._app = app

    @staticmethod
    def _add(app: web.Application, spec: RouteSpec) -> None:
        if spec.method == "GET":
            app.router.add_get(spec.path, spec.handler, allow_head=True)
        else:
            app.router.add_route(spec.method, spec.path, spec.handler)
