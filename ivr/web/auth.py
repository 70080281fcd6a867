"""Bearer-token authentication and role checks for the HTTP API.

Theory of operation: a `TokenStore` maps tokens to principals (a name for the
audit trail and a role). It keeps only each token's SHA-256 digest and checks
a presented token against every digest with `hmac.compare_digest`, without
stopping at the first match, so neither the configuration in memory nor the
response time gives a token away.

Roles are ordered: viewer < supervisor < admin; a role covers itself and every
role below it. Each route declares the role it needs: `Api.route(role=...)`,
or the `require(role)` / `public` decorators for routes added to the router
directly. The requirement rides on the handler object, so `auth_middleware`
reads it from the matched route; a route that declares nothing needs `viewer`,
and so does a URL that matches no route (the client learns it is a 404 only
once authenticated). Public routes (`public`, or a path in the middleware's
`public_paths` allow-list, e.g. `/healthz` and `/metrics`) skip authentication.
An authenticated request carries its `Principal` under `request[PRINCIPAL]`,
and log lines emitted while it is handled are bound to `principal=<name>`.
A token is read from the `Authorization: Bearer` header only, never from the
URL. A failed attempt is logged with the client address; past a limit of
failures in a window, that address's failing requests get 429 until the
window ends (`throttle.py`), while valid tokens from it still pass.

Token configuration (one entry per token):

    name:role:token     e.g. alice:supervisor:3q2+7w...    (the name is audited)
    role:token          the name defaults to "<role>-<n>", n counting per role

Entries are separated by commas or newlines; in files, blank lines and lines
starting with `#` are ignored. Tokens use the RFC 6750 token68 alphabet
(letters, digits, `-._~+/`, trailing `=`), so `:` and `,` never occur in one;
names use letters, digits and `-._@`. Sources, merged by `TokenStore.from_env`:

    IVR_API_TOKENS        entries inline (put it in the secrets file, not in git)
    IVR_API_TOKENS_FILE   path of a file of entries
    IVR_DEMO_TOKENS=1     adds the demo tokens `viewer-demo`, `supervisor-demo`,
                          `admin-demo` (principals demo-viewer, demo-supervisor,
                          demo-admin): for the local demo only

With none of these set the store is empty and every non-public call is 401:
there are no built-in default tokens.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from ivr.log import get_logger

from .errors import Forbidden, TooManyRequests, Unauthorized
from .throttle import FailureThrottle

log = get_logger(__name__)


class Role(enum.StrEnum):
    VIEWER = "viewer"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def covers(self, required: Role) -> bool:
        """True if a principal with this role may call a route that needs `required`."""
        return self.rank >= required.rank


@dataclass(frozen=True)
class Principal:
    """Who is calling: `name` goes to the audit trail, `role` decides what they may do."""

    name: str
    role: Role


PRINCIPAL: Final = web.RequestKey("ivr_principal", Principal)

DEMO_TOKENS: Final = {
    Role.VIEWER: "viewer-demo",
    Role.SUPERVISOR: "supervisor-demo",
    Role.ADMIN: "admin-demo",
}
_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_NAME = re.compile(r"[A-Za-z0-9\-._@]+")
_WEAK_TOKEN_LENGTH = 16
_TRUE = frozenset({"1", "true", "yes", "on"})


class TokenConfigError(ValueError):
    """The token configuration is unusable; the message never contains a token."""


@dataclass(frozen=True)
class _Entry:
    principal: Principal
    digest: bytes


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class TokenStore:
    """Token digests and their principals; `authenticate(token)` is the only lookup."""

    def __init__(self, entries: Iterable[tuple[Principal, str]] = (), *, demo: bool = False) -> None:
        self._entries: tuple[_Entry, ...] = ()
        self.uses_demo_tokens = demo
        seen: dict[bytes, str] = {}
        kept: list[_Entry] = []
        for principal, token in entries:
            if not _TOKEN.fullmatch(token):
                raise TokenConfigError(f"token of {principal.name!r}: use letters, digits, '-._~+/' and trailing '='")
            digest = _digest(token)
            if digest in seen:
                raise TokenConfigError(f"{seen[digest]!r} and {principal.name!r} share a token")
            seen[digest] = principal.name
            kept.append(_Entry(principal, digest))
            if len(token) < _WEAK_TOKEN_LENGTH and not demo:
                log.warning("api_token_weak", principal=principal.name, min_length=_WEAK_TOKEN_LENGTH)
        self._entries = tuple(kept)

    @classmethod
    def parse(cls, text: str, *, source: str = "IVR_API_TOKENS") -> TokenStore:
        """Entries `name:role:token` or `role:token`, separated by commas or newlines."""
        entries: list[tuple[Principal, str]] = []
        per_role: dict[Role, int] = {}
        raw = [e.strip() for line in text.splitlines() for e in line.split(",")]
        for number, item in enumerate((e for e in raw if e and not e.startswith("#")), start=1):
            parts = item.split(":")
            # Only the entry's position is reported: a malformed entry may be a bare token.
            where = f"{source} entry {number}"
            if len(parts) not in (2, 3):
                raise TokenConfigError(f"{where}: expected name:role:token or role:token")
            try:
                role = Role(parts[-2])
            except ValueError:
                raise TokenConfigError(f"{where}: the role must be one of {', '.join(Role)}") from None
            per_role[role] = per_role.get(role, 0) + 1
            name = parts[0] if len(parts) == 3 else f"{role}-{per_role[role]}"
            if not _NAME.fullmatch(name):
                raise TokenConfigError(f"{where}: the name may use letters, digits and '-._@'")
            entries.append((Principal(name, role), parts[-1]))
        return cls(entries)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> TokenStore:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise TokenConfigError(f"cannot read API tokens file {path}: {exc.strerror}") from None
        return cls.parse(text, source=str(path))

    @classmethod
    def from_roles(cls, roles: Mapping[str, Iterable[str]]) -> TokenStore:
        """From settings-like data, role -> tokens; names are `<role>-<n>`."""
        entries: list[tuple[Principal, str]] = []
        for role_name, tokens in roles.items():
            try:
                role = Role(role_name)
            except ValueError:
                raise TokenConfigError(f"unknown role {role_name!r}") from None
            entries.extend((Principal(f"{role}-{n}", role), token) for n, token in enumerate(tokens, start=1))
        return cls(entries)

    @classmethod
    def demo(cls) -> TokenStore:
        return cls(((Principal(f"demo-{r}", r), t) for r, t in DEMO_TOKENS.items()), demo=True)

    @classmethod
    def load(cls, *, spec: str = "", file: str | os.PathLike[str] | None = None, demo: bool = False) -> TokenStore:
        """Merge inline entries, a file of entries and the demo tokens; warn when demo or empty.

        The entry point for typed settings (`Settings` fields holding the same values).
        """
        stores = []
        if spec.strip():
            stores.append(cls.parse(spec))
        if file is not None and str(file).strip():
            stores.append(cls.from_file(file))
        if demo:
            stores.append(cls.demo())
        store = cls.merge(stores)
        if store.uses_demo_tokens:
            log.warning("api_demo_tokens_enabled", principals=[p.name for p in store.principals()])
        if not len(store):
            log.warning("api_no_tokens", hint="set IVR_API_TOKENS or IVR_API_TOKENS_FILE")
        return store

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TokenStore:
        """`load` from IVR_API_TOKENS, IVR_API_TOKENS_FILE and IVR_DEMO_TOKENS=1."""
        env = os.environ if environ is None else environ
        return cls.load(
            spec=env.get("IVR_API_TOKENS", ""),
            file=env.get("IVR_API_TOKENS_FILE", "").strip() or None,
            demo=env.get("IVR_DEMO_TOKENS", "").strip().lower() in _TRUE,
        )

    @classmethod
    def merge(cls, stores: Iterable[TokenStore]) -> TokenStore:
        merged = cls()
        entries: list[_Entry] = []
        seen: dict[bytes, str] = {}
        for store in stores:
            merged.uses_demo_tokens |= store.uses_demo_tokens
            for entry in store._entries:
                if entry.digest in seen:
                    raise TokenConfigError(f"{seen[entry.digest]!r} and {entry.principal.name!r} share a token")
                seen[entry.digest] = entry.principal.name
                entries.append(entry)
        merged._entries = tuple(entries)
        return merged

    def authenticate(self, token: str) -> Principal | None:
        """The principal holding `token`, or None; compares against every digest.

        A presented string outside the token alphabet (e.g. header bytes that
        are not ASCII) can match no token: it is refused before hashing.
        """
        if not _TOKEN.fullmatch(token):
            return None
        presented = _digest(token)
        found: Principal | None = None
        for entry in self._entries:
            if hmac.compare_digest(presented, entry.digest):
                found = entry.principal
        return found

    def principals(self) -> list[Principal]:
        return [e.principal for e in self._entries]

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:  # never the digests: a digest of a weak token is guessable
        return f"TokenStore({len(self)} tokens, demo={self.uses_demo_tokens})"


# --- per-route requirements -------------------------------------------------

_REQUIREMENT_ATTR: Final = "__ivr_required_role__"
_PUBLIC: Final = "public"
H = TypeVar("H", bound=Callable[..., Any])


def require(role: Role | str) -> Callable[[H], H]:
    """Decorator: the handler needs at least `role` (marks the function itself)."""
    needed = Role(role)

    def mark(handler: H) -> H:
        setattr(handler, _REQUIREMENT_ATTR, needed)
        return handler

    return mark


def public(handler: H) -> H:
    """Decorator: the handler needs no token (health checks, metrics scrapes)."""
    setattr(handler, _REQUIREMENT_ATTR, _PUBLIC)
    return handler


def required_role(handler: object, default: Role = Role.VIEWER) -> Role | None:
    """The role a handler needs; None means public."""
    mark = getattr(handler, _REQUIREMENT_ATTR, None)
    if mark == _PUBLIC:
        return None
    return mark if isinstance(mark, Role) else default


def _bearer_token(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    if not header.strip():
        raise Unauthorized("missing bearer token (Authorization: Bearer <token>)")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("the Authorization header must be 'Bearer <token>'", invalid_token=True)
    return token.strip()


def client_address(request: web.Request) -> str:
    """The peer address of the connection (never a forwarded header: nothing proxies us)."""
    return request.remote or "unknown"


def auth_middleware(
    tokens: TokenStore,
    *,
    public_paths: Iterable[str] = (),
    default_role: Role = Role.VIEWER,
    throttle: FailureThrottle | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Middleware:
    """Authenticate every request except public ones and enforce the route's role.

    `public_paths` is an allow-list of exact request paths (e.g. "/healthz",
    "/metrics"). Install it inside `error_middleware`, which renders its 401/403.
    A token is only ever read from the `Authorization` header: never from the
    URL, where it would reach browser history, proxies and logs.
    Failed attempts are counted per client address (`throttle`); past the
    limit, a failing request from that address gets 429 with `Retry-After`
    (and no log line) until its window ends. A valid token still passes: every
    client of this loopback-only service shares one address, so blocking the
    address would let one misconfigured script lock the floor out.
    """
    allowed = frozenset(public_paths)
    guard = throttle if throttle is not None else FailureThrottle()

    def refuse(request: web.Request, reason: str, where: dict[str, str]) -> None:
        address = client_address(request)
        now = clock()
        wait = guard.retry_after(address, now)
        if wait is not None:  # over the limit: no more log lines, a 429 until the window ends
            raise TooManyRequests(wait)
        log.info("api_unauthorized", reason=reason, client=address, **where)
        if guard.record_failure(address, now):
            log.warning("api_auth_throttled", client=address, limit=guard.limit, window_seconds=guard.window)

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        needed = required_role(request.match_info.handler, default_role)
        if needed is None or request.path in allowed:
            return await handler(request)
        where = {"method": request.method, "path": request.path}
        try:
            token = _bearer_token(request)
        except Unauthorized:
            refuse(request, "no_bearer_token", where)
            raise
        principal = tokens.authenticate(token)
        if principal is None:
            refuse(request, "unknown_token", where)
            raise Unauthorized("unknown or revoked token", invalid_token=True)
        if not principal.role.covers(needed):
            log.info(
                "api_forbidden",
                principal=principal.name, role=principal.role.value, required_role=needed.value,
                client=client_address(request), **where,
            )  # fmt: skip
            raise Forbidden(needed.value, principal.role.value)
        request[PRINCIPAL] = principal
        with structlog.contextvars.bound_contextvars(principal=principal.name):
            return await handler(request)

    return authenticate
