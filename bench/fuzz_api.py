"""Fuzz the HTTP API of a real `ivr serve` from its own OpenAPI description.

Run: `.venv/bin/python bench/fuzz_api.py` (at least 10,000 schemathesis
requests plus 2,000 raw probes, a few minutes; `--cases N`, `--raw N`,
`--seed N`, `--help`). No PBX is needed: the service is started on loopback
ports of its own (HTTP 8380, AGI 4873; AMI pointed at 5938, where nothing
listens, so /healthz says "degraded" and routes that need the PBX answer 503)
with its run directory in a temporary directory and the demo tokens.

1. schemathesis. The document is read from /api/openapi.json (with the viewer
   token: it is not public). Where an operation reads query parameters the
   document does not declare (`/api/kpis`, `/api/audit`), they are added from
   the handlers' pydantic query models, so that the generator reaches them;
   the run says so. Every operation except the SSE stream (which never ends;
   probed on its own below) is generated in four profiles: admin token with
   valid data, admin token with invalid data (negative mode), the viewer
   token (both modes), and no or hostile Authorization headers (missing,
   other schemes, near-miss tokens, Latin-1 text, arbitrary bytes). Checks:
   the server error check (any 5xx but 503 fails; 503 is the PBX being
   absent), schemathesis' status_code, content_type, response_headers and
   response_schema conformance, negative_data_rejection (admin, invalid
   data), and authentication and role enforcement (no 2xx without a valid
   token on a non-public operation, no 2xx for the viewer on a supervisor or
   admin one).
2. Raw probes (hypothesis, below what schemathesis can express): bodies that
   are invalid UTF-8, 5,001-digit integers, deep nesting, floats like 1e999,
   wrong content types, oversized; query strings with extreme numbers
   (`from=1000000000000`), NaN, infinities, huge digit strings, invalid
   percent-encoding; and Authorization headers of arbitrary bytes.
3. The SSE stream: opened with each token, its first event must come within
   the hang limit, then closed.

A request slower than `--hang-seconds` (2 s) is a hang; one over
`--timeout` is a timed-out hang. After the run, /healthz must still answer
and the process must be alive. Every 500 is reported with its input and the
last lines of the traceback the service logged under the correlation id.

POST /api/reload runs as admin, not excluded: its body is read first, and
without a PBX the service's reload check answers 409 (nothing applied: the
running configuration differs in files that only a restart applies) or 503;
it only ever touches the temporary run directory. Pauses, logins and
emergency switches likewise only write the temporary run directory.

The service's failed-authentication throttle (20 x 401 per minute per client
address, then 429 for everything) would turn the rest of the run into 429s:
requests are sent from rotating loopback source addresses (127.0.0.0/8),
switching after 15 x 401 on one address. 429s are counted and reported.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from requests.adapters import HTTPAdapter

ROOT = Path(__file__).resolve().parents[1]
IVR = ROOT / ".venv" / "bin" / "ivr"
TOKENS = {"viewer": "viewer-demo", "supervisor": "supervisor-demo", "admin": "admin-demo"}
ROLE_RANK = {"viewer": 0, "supervisor": 1, "admin": 2}
STREAM_PATH = "/api/wallboard/stream"


# --------------------------------------------------------------------------- the service


@dataclass
class Ports:
    http: int = 8380
    agi: int = 4873
    ami: int = 5938
    sip: int = 5960


class Service:
    """`ivr serve` in a subprocess, its run directory and log in a temporary directory."""

    def __init__(self, ports: Ports, workdir: Path) -> None:
        self.ports = ports
        self.workdir = workdir
        self.log_path = workdir / "ivr-serve.log"
        self.base = f"http://127.0.0.1:{ports.http}"
        self.proc: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            IVR_CATALOG=str(ROOT / "callcenter.yaml"), IVR_TEMPLATES=str(ROOT / "dialplans"),
            IVR_PROMPTS=str(ROOT / "prompts"), IVR_RUN_DIR=str(self.workdir / "run"),
            IVR_HTTP_PORT=str(self.ports.http), IVR_AGI_PORT=str(self.ports.agi),
            IVR_AMI_PORT=str(self.ports.ami), IVR_SIP_PORT=str(self.ports.sip),
            IVR_DEMO_TOKENS="true", IVR_LOG_JSON="true", IVR_LOG_LEVEL="info",
        )  # fmt: skip
        return env

    def start(self, timeout: float = 30.0) -> None:
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(IVR), "serve"], stdout=out, stderr=subprocess.STDOUT, env=self.env(), cwd=ROOT,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ivr serve exited with {self.proc.returncode}: see {self.log_path}")
            if self.health() is not None:
                return
            time.sleep(0.2)
        raise RuntimeError(f"ivr serve did not answer /healthz within {timeout} s: see {self.log_path}")

    def health(self) -> tuple[int, Any] | None:
        try:
            response = requests.get(self.base + "/healthz", timeout=5)
        except requests.RequestException:
            return None
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, response.text[:200]

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def tracebacks(self) -> dict[str, str]:
        """correlation_id -> the last lines of the logged traceback."""
        found: dict[str, str] = {}
        for line in self.log_path.read_text(errors="replace").splitlines():
            if "correlation_id" not in line or not line.startswith("{"):
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue
            cid = record.get("correlation_id")
            text = record.get("exception") or ""
            if cid and text:
                found[cid] = "\n".join(str(text).rstrip().splitlines()[-5:])
        return found


# --------------------------------------------------------------------------- sessions from rotating sources


class _SourceAdapter(HTTPAdapter):
    def __init__(self, source: str) -> None:
        self._source = source
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self._source, 0)
        super().init_poolmanager(*args, **kwargs)


class Sessions:
    """A requests session bound to a loopback source address, replaced after 15 x 401."""

    def __init__(self) -> None:
        self._next = 2
        self._failures = 0
        self.addresses_used = 0
        self.session = self._new()

    def _new(self) -> requests.Session:
        n, self._next = self._next, self._next + 1
        address = f"127.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"
        session = requests.Session()
        adapter = _SourceAdapter(address)
        session.mount("http://", adapter)
        self.addresses_used += 1
        return session

    def saw(self, status: int) -> None:
        if status == 401:
            self._failures += 1
            if self._failures >= 15:
                self.session.close()
                self.session = self._new()
                self._failures = 0


# --------------------------------------------------------------------------- the document


def fetch_spec(base: str) -> dict[str, Any]:
    response = requests.get(base + "/api/openapi.json", headers={"Authorization": "Bearer viewer-demo"}, timeout=10)
    response.raise_for_status()
    spec: dict[str, Any] = response.json()
    return spec


def _query_parameters(model: Any) -> list[dict[str, Any]]:
    schema = model.model_json_schema(by_alias=True)
    params = []
    for name, prop in schema.get("properties", {}).items():
        prop = dict(prop)
        variants = [v for v in prop.pop("anyOf", []) if v.get("type") != "null"]
        if len(variants) == 1:
            prop.update(variants[0])
        for key in ("title", "default", "description"):
            prop.pop(key, None)
        params.append({"name": name, "in": "query", "required": name in schema.get("required", []), "schema": prop})
    return params


def augment_spec(spec: dict[str, Any]) -> list[str]:
    """Declare the query parameters the handlers read but the document omits; returns what was added."""
    notes: list[str] = []
    models: dict[str, Any] = {}
    # Where the handlers' query models live (they have moved between modules).
    for path, module, name in (
        ("/api/kpis", "ivr.metrics.http", "KpiQuery"),
        ("/api/kpis", "ivr.metrics.query", "KpiQuery"),
        ("/api/kpis", "ivr.serve", "KpiQuery"),
        ("/api/audit", "ivr.web.audit", "AuditQuery"),
    ):
        try:
            model = getattr(importlib.import_module(module), name, None)
        except ImportError:
            continue
        if model is not None and path not in models:
            models[path] = model
    for path, model in models.items():
        operation = spec.get("paths", {}).get(path, {}).get("get")
        if operation is None:
            continue
        declared = {p.get("name") for p in operation.get("parameters", []) if p.get("in") == "query"}
        added = [p for p in _query_parameters(model) if p["name"] not in declared]
        if added:
            operation.setdefault("parameters", []).extend(added)
            notes.append(f"GET {path}: added undeclared query parameters {[p['name'] for p in added]}")
    return notes


def required_role(operation: dict[str, Any]) -> str | None:
    if operation.get("security") == []:
        return None
    role = operation.get("x-required-role")
    return str(role) if role else "viewer"


# --------------------------------------------------------------------------- bookkeeping


@dataclass
class OpStats:
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    slowest: float = 0.0


@dataclass
class Finding:
    kind: str
    key: str
    request: str
    detail: str
    count: int = 1


@dataclass
class Run:
    hang_seconds: float
    ops: dict[str, OpStats] = field(default_factory=lambda: defaultdict(OpStats))
    profiles: Counter[str] = field(default_factory=Counter)
    findings: dict[str, Finding] = field(default_factory=dict)
    server_errors: int = 0
    hangs: int = 0
    connection_failures: int = 0
    auth_bypasses: int = 0
    throttled: int = 0
    pbx_unavailable: int = 0
    conformance: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(s.requests for s in self.ops.values())

    def note(self, kind: str, key: str, request: str, detail: str) -> None:
        found = self.findings.get(f"{kind}:{key}")
        if found is None:
            self.findings[f"{kind}:{key}"] = Finding(kind, key, request, detail)
            return
        found.count += 1
        if len(request) < len(found.request):
            found.request, found.detail = request, detail

    def record(
        self,
        label: str,
        profile: str,
        request: str,
        response: requests.Response | None,
        elapsed: float,
        *,
        error: BaseException | None = None,
        needed: str | None = None,
        token_role: str | None = None,
    ) -> None:
        stats = self.ops[label]
        stats.requests += 1
        stats.slowest = max(stats.slowest, elapsed)
        self.profiles[profile] += 1
        if elapsed > self.hang_seconds or isinstance(error, requests.Timeout):
            self.hangs += 1
            self.note("hang", label, request, f"{elapsed:.2f} s" + (f" ({type(error).__name__})" if error else ""))
        if response is None:
            if not isinstance(error, requests.Timeout):
                self.connection_failures += 1
                self.note("connection", f"{label} {type(error).__name__}", request, str(error)[:300])
            return
        status = response.status_code
        stats.statuses[status] += 1
        if status == 429:
            self.throttled += 1
        if status == 503:
            self.pbx_unavailable += 1
        elif status >= 500:
            self.server_errors += 1
            cid = response.headers.get("X-Correlation-Id") or _correlation_id(response)
            self.note("server_error", f"{label} {status} {cid and 'cid'}#{_error_shape(response)}", request,
                      f"status {status}, correlation_id {cid}")  # fmt: skip
        if 200 <= status < 300 and needed is not None:
            if token_role is None:
                self.auth_bypasses += 1
                self.note("auth_bypass", label, request, f"{status} without a valid token")
            elif ROLE_RANK[token_role] < ROLE_RANK[needed]:
                self.auth_bypasses += 1
                self.note("auth_bypass", label, request, f"{status} for {token_role}, needs {needed}")


def _effective_role(value: str | bytes | None) -> str | None:
    """The role a header grants by RFC 7235: the scheme is case-insensitive, spaces around the token are not part
    of it. `bearer admin-demo` is a valid admin header, not a bypass."""
    if value is None:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    scheme, _, token = text.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return next((role for role, known in TOKENS.items() if token.strip(" \t") == known), None)


def _correlation_id(response: requests.Response) -> str:
    try:
        return str(response.json().get("details", {}).get("correlation_id", ""))
    except (ValueError, AttributeError):
        return ""


def _error_shape(response: requests.Response) -> str:
    try:
        return str(response.json().get("error_id", ""))
    except (ValueError, AttributeError):
        return response.text[:40]


def _show_headers(headers: dict[str, Any] | None) -> str:
    if not headers or "Authorization" not in headers:
        return "no Authorization"
    value = headers["Authorization"]
    shown = repr(value[:80]) + ("..." if len(value) > 80 else "")
    return f"Authorization: {shown}"


# --------------------------------------------------------------------------- 1. schemathesis


class _TimeUp(BaseException):
    """Ends a hypothesis run at the time limit (not an Exception: hypothesis lets it through)."""


HOSTILE_AUTH: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "Bearer",
            "Bearer ",
            "bearer admin-demo",
            "BEARER admin-demo",
            "Basic YWRtaW4tZGVtbzo=",
            "Bearer admin-demo ",
            "Bearer  admin-demo",
            "Bearer admin-dem",
            "Bearer admin-demoX",
            "Bearer viewer-demo,admin-demo",
            "Bearer admin-demo\tx",
            "Token admin-demo",
            "Bearer " + "a" * 9000,
            "Bearer \u00e9",
            "Bearer \u00ff\u00fe",
        ]
    ),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=48).map(
        lambda t: "Bearer " + t
    ),
    st.binary(max_size=48).filter(lambda b: b"\r" not in b and b"\n" not in b).map(lambda b: b"Bearer " + b),
)


@dataclass
class Profile:
    name: str
    mode: str  # positive / negative
    token: str | None  # role whose token is sent; None: hostile headers
    share: float


PROFILES = (
    Profile("admin/positive", "positive", "admin", 0.35),
    Profile("admin/negative", "negative", "admin", 0.30),
    Profile("viewer/positive", "positive", "viewer", 0.08),
    Profile("viewer/negative", "negative", "viewer", 0.07),
    Profile("hostile-auth/positive", "positive", None, 0.20),
)


def run_schemathesis(
    service: Service, spec: dict[str, Any], run: Run, sessions: Sessions, *, cases: int, seed_value: int,
    timeout: float, deadline: float,
) -> None:  # fmt: skip
    import schemathesis
    from schemathesis.generation import GenerationMode
    from schemathesis.specs.openapi import checks as oc

    schema = schemathesis.openapi.from_dict(spec)
    operations = []
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]
        if operation.path == STREAM_PATH:
            continue
        raw = spec["paths"][operation.path][operation.method.lower()]
        operations.append((operation, required_role(raw)))
    conformance = [
        oc.status_code_conformance, oc.content_type_conformance, oc.response_headers_conformance,
        oc.response_schema_conformance,
    ]  # fmt: skip

    def one_pass(budget: Callable[[Profile], int], pass_seed: int, only: set[str] | None = None) -> dict[str, int]:
        produced: dict[str, int] = {}
        for profile in PROFILES:
            mode = GenerationMode.NEGATIVE if profile.mode == "negative" else GenerationMode.POSITIVE
            checks = [*conformance, oc.negative_data_rejection] if profile.name == "admin/negative" else conformance
            for operation, needed in operations:
                label = f"{operation.method.upper()} {operation.path}"
                if only is not None and label not in only:
                    continue
                before = run.ops[label].requests
                try:
                    strategy = operation.as_strategy(generation_mode=mode)
                except Exception as exc:  # an operation with nothing to make invalid, say
                    run.notes.append(f"{label} {profile.name}: no cases ({type(exc).__name__})")
                    continue
                auth = st.just(("Bearer " + TOKENS[profile.token], profile.token)) if profile.token else (
                    HOSTILE_AUTH.map(lambda value: (value, None))
                )  # fmt: skip
                test = _make_test(service, run, sessions, profile, label, needed, checks, timeout, deadline)
                wrapped = seed(pass_seed)(
                    settings(
                        max_examples=max(1, budget(profile)), database=None, deadline=None, phases=[Phase.generate],
                        suppress_health_check=list(HealthCheck), print_blob=False,
                    )(given(case=strategy, auth=auth)(test))
                )  # fmt: skip
                try:
                    wrapped()
                except _TimeUp:
                    return produced
                except Unsatisfiable:
                    run.notes.append(f"{label} {profile.name}: nothing to generate (no parameters or body to vary)")
                except Exception as exc:  # generation errors: note and go on with the next operation
                    run.notes.append(f"{label} {profile.name}: generation stopped ({type(exc).__name__}: {exc!s:.120})")
                produced[f"{profile.name} {label}"] = run.ops[label].requests - before
        return produced

    per_op = max(1, cases // len(operations))
    produced = one_pass(lambda p: round(per_op * p.share), seed_value)
    # Operations with few inputs (no parameters, no body) run out of distinct cases at once: top up the
    # others, in the admin profiles, with new seeds until the total is reached.
    top_up = 0
    while run.total < cases and time.monotonic() < deadline and top_up < 20:
        top_up += 1
        busy = {key.split(" ", 1)[1] for key, n in produced.items() if n >= 5}
        if not busy:
            break
        missing = cases - run.total
        share = max(10, missing // len(busy) + 1)

        def top_up_budget(profile: Profile, share: int = share) -> int:
            return share if profile.token == "admin" else 1

        produced = one_pass(top_up_budget, seed_value + top_up, only=busy)
    if time.monotonic() >= deadline:
        run.notes.append("schemathesis: stopped at the time limit")


def _make_test(
    service: Service, run: Run, sessions: Sessions, profile: Profile, label: str, needed: str | None,
    checks: list[Any], timeout: float, deadline: float,
) -> Callable[..., None]:  # fmt: skip
    from schemathesis.core.failures import Failure, FailureGroup

    def test(case: Any, auth: tuple[Any, str | None]) -> None:
        if time.monotonic() > deadline:
            raise _TimeUp
        value, role = auth
        headers = {"Authorization": value} if value is not None else None
        if headers is None and case.headers:
            case.headers.pop("Authorization", None)
        request = (
            f"{case.method.upper()} {case.formatted_path} query={case.query!r} body={_body(case)} "
            + _show_headers(headers)
        )
        started = time.perf_counter()
        response = error = None
        try:
            response = case.call(base_url=service.base, session=sessions.session, headers=headers, timeout=timeout)
        except (requests.RequestException, OSError) as exc:
            error = exc
        except ValueError as exc:  # the client refused to send it (an illegal header): not a request
            run.notes.append(f"{label}: client refused a case ({exc!s:.80})")
            return
        elapsed = time.perf_counter() - started
        token_role = role if profile.token else _effective_role(value)
        run.record(label, profile.name, request, response, elapsed, error=error, needed=needed, token_role=token_role)
        if response is None:
            if not service.alive:
                raise RuntimeError("ivr serve died")
            return
        sessions.saw(response.status_code)
        try:
            case.validate_response(response, checks=checks, headers=headers)
        except FailureGroup as group:
            for failure in group.exceptions:
                _conformance(run, label, response, request, failure)
        except Failure as failure:
            _conformance(run, label, response, request, failure)

    return test


def _conformance(run: Run, label: str, response: requests.Response, request: str, failure: Any) -> None:
    run.conformance += 1
    title = getattr(failure, "title", type(failure).__name__)
    message = str(getattr(failure, "message", ""))
    run.note("conformance", f"{label} {response.status_code} {title}", request, f"{title}: {message[:300]}")


def _body(case: Any) -> str:
    from schemathesis.core import NOT_SET

    body = case.body
    if body is NOT_SET or body is None:
        return "-"
    text = repr(body)
    return text[:160] + ("..." if len(text) > 160 else "")


# --------------------------------------------------------------------------- 2. raw probes

HUGE = "9" * 5001
NUMBERS = (
    "1000000000000", "-1000000000000", "1e308", "1e999", "-1e999", "nan", "NaN", "inf", "-inf", "Infinity", "0",
    "-0", "0x10", "1_000", HUGE, "-" + HUGE, "1e-400", "900", "86400", "86401", "-900", "9" * 30, "", " 1", "\u0661",
)  # fmt: skip
QUERY_NAMES = ("from", "to", "interval", "group_by", "format", "since", "action", "limit", "token", "x")
JSON_BODIES = (
    b"{}", b"[]", b"null", b'{"dry_run": true}', b'{"reason": "break"}',
    b'{"queues": {"basic_zh": ' + HUGE.encode() + b"}}",
    b'{"reason": ' + HUGE.encode() + b"}", b'{"minutes": 1e999, "prompt": "x"}', b'{"minutes": NaN, "prompt": "x"}',
    b'{"prompt": "emergency_x", "minutes": ' + HUGE.encode() + b"}", b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000, b'{"reason": "\xff\xfe"}', b"\xef\xbb\xbf{}", b'{"dry_run": 1}',
    b'{"queues": {"basic_zh": -1}}', b'{"queues": {"\\ud800": 1}}', b'{"reason": "\\u0000"}', b"x" * 2_000_000,
    b'{"dry_run": true, "dry_run": false}', b'{"queues": {"basic_zh": 1e400}}',
)  # fmt: skip


@st.composite
def raw_request(draw: st.DrawFn, operations: list[tuple[str, str, str | None]]) -> dict[str, Any]:
    method, path, needed = draw(st.sampled_from(operations))
    path = path.replace("{seat}", draw(st.sampled_from(["1001", "9999", "%ff", "a%00b", "..", "x" * 300])))
    path = path.replace("{scope}", draw(st.sampled_from(["main", "global", "nope", "%c3%28", "x" * 300])))
    pairs = draw(
        st.lists(
            st.tuples(
                st.sampled_from(QUERY_NAMES) | st.text(max_size=8),
                st.sampled_from(NUMBERS) | st.text(max_size=12) | st.sampled_from(("json", "csv", "none", "group")),
            ),
            max_size=4,
        )
    )
    query = "&".join(f"{urllib.parse.quote(k)}={urllib.parse.quote(v)}" for k, v in pairs)
    if draw(st.integers(0, 9)) == 0:
        query += draw(st.sampled_from(["&from=%ff", "&to=%", "&%zz=1", "&from=1&from=2", "&;=", "&from=%00"]))
    role = draw(st.sampled_from(["admin", "admin", "supervisor", "viewer", None]))
    auth: Any = f"Bearer {TOKENS[role]}" if role else draw(HOSTILE_AUTH)
    body = None
    content_type = None
    if method == "POST":
        body = draw(st.sampled_from(JSON_BODIES) | st.binary(max_size=64))
        content_type = draw(
            st.sampled_from(["application/json", "application/json; charset=latin-1", "text/plain", None,
                             "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"])
        )  # fmt: skip
    return {
        "method": method, "path": path, "query": query.lstrip("&"), "auth": auth, "role": role, "body": body,
        "content_type": content_type, "needed": needed, "label": f"{method} {path}",
    }  # fmt: skip


def run_raw(
    service: Service, spec: dict[str, Any], run: Run, sessions: Sessions, *, cases: int, seed_value: int,
    timeout: float, deadline: float,
) -> None:  # fmt: skip
    operations = [
        (method.upper(), path, required_role(op))
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if isinstance(op, dict) and path != STREAM_PATH
    ]

    @seed(seed_value)
    @settings(
        max_examples=cases, database=None, deadline=None, phases=[Phase.generate],
        suppress_health_check=list(HealthCheck), print_blob=False,
    )  # fmt: skip
    @given(probe=raw_request(operations))
    def probe_once(probe: dict[str, Any]) -> None:
        if time.monotonic() > deadline:
            raise _TimeUp
        url = service.base + probe["path"] + ("?" + probe["query"] if probe["query"] else "")
        headers = {"Authorization": probe["auth"]} if probe["auth"] is not None else {}
        if probe["content_type"]:
            headers["Content-Type"] = probe["content_type"]
        body = probe["body"]
        shown_body = "-" if body is None else repr(body[:120]) + (f"... ({len(body)} bytes)" if len(body) > 120 else "")
        request = f"{probe['method']} {url[len(service.base) :][:300]} body={shown_body} {_show_headers(headers)}"
        label = "raw " + _template(probe["method"], probe["path"])
        started = time.perf_counter()
        response = error = None
        try:
            response = sessions.session.request(probe["method"], url, data=body, headers=headers, timeout=timeout)
        except (requests.RequestException, OSError) as exc:
            error = exc
        except ValueError as exc:
            run.notes.append(f"raw: client refused a case ({exc!s:.80})")
            return
        elapsed = time.perf_counter() - started
        run.record(label, "raw", request, response, elapsed, error=error, needed=probe["needed"],
                   token_role=probe["role"] or _effective_role(probe["auth"]))  # fmt: skip
        if response is not None:
            sessions.saw(response.status_code)
        elif not service.alive:
            raise RuntimeError("ivr serve died")

    try:
        probe_once()
    except _TimeUp:
        run.notes.append("raw probes: stopped at the time limit")


def _template(method: str, path: str) -> str:
    path = re.sub(r"^/api/agents/[^/]+/", "/api/agents/{seat}/", path)
    path = re.sub(r"^/api/emergency/[^/]+/(on|off)$", r"/api/emergency/{scope}/\1", path)
    return f"{method} {path}"


# --------------------------------------------------------------------------- 3. the SSE stream


def run_stream(service: Service, run: Run, sessions: Sessions, timeout: float) -> None:
    for role in (*TOKENS, None, "garbage"):
        headers = {}
        if role in TOKENS:
            headers["Authorization"] = f"Bearer {TOKENS[role]}"
        elif role == "garbage":
            headers["Authorization"] = b"Bearer \xff\xfe"  # type: ignore[assignment]
        request = f"GET {STREAM_PATH} {_show_headers(headers)}"
        started = time.perf_counter()
        response = error = None
        try:
            with sessions.session.get(service.base + STREAM_PATH, headers=headers, stream=True, timeout=timeout) as r:
                response = r
                if r.status_code == 200:
                    next(r.iter_content(chunk_size=None))  # the first event, then close
        except (requests.RequestException, OSError, StopIteration) as exc:
            error = exc
        elapsed = time.perf_counter() - started
        needed = "viewer"
        run.record(f"GET {STREAM_PATH}", "stream", request, response, elapsed, error=error, needed=needed,
                   token_role=role if role in TOKENS else None)  # fmt: skip
        if response is not None:
            sessions.saw(response.status_code)


# --------------------------------------------------------------------------- report


def print_report(run: Run, service: Service, seconds: float, health: Any, alive: bool) -> None:
    tracebacks = service.tracebacks()
    print()
    print("| operation | requests | statuses | slowest (ms) |")
    print("| --- | ---: | --- | ---: |")
    for label in sorted(run.ops):
        s = run.ops[label]
        statuses = ", ".join(f"{code} x{n}" for code, n in sorted(s.statuses.items()))
        print(f"| {label} | {s.requests:,} | {statuses} | {s.slowest * 1000:,.0f} |")
    schemathesis_total = sum(n for p, n in run.profiles.items() if p not in ("raw", "stream"))
    print()
    print("requests per profile: " + ", ".join(f"{p} {n:,}" for p, n in run.profiles.items()))
    print(
        f"total {run.total:,} requests ({schemathesis_total:,} schemathesis) in {seconds:.0f} s; "
        f"server errors (5xx but 503) {run.server_errors}; hangs (> {run.hang_seconds:g} s or timed out) {run.hangs}; "
        f"connection failures {run.connection_failures}; auth/role bypasses {run.auth_bypasses}; "
        f"429 {run.throttled}; 503 (no PBX) {run.pbx_unavailable}; conformance findings {run.conformance}"
    )
    print(f"after the run: /healthz -> {health}; process alive: {alive}")
    for note in dict.fromkeys(run.notes):
        print(f"note: {note}")
    order = {"server_error": 0, "hang": 1, "connection": 2, "auth_bypass": 3, "conformance": 4}
    for finding in sorted(run.findings.values(), key=lambda f: (order.get(f.kind, 9), -f.count)):
        print(f"[{finding.kind}] x{finding.count}: {finding.key}")
        print(f"    shortest request: {finding.request[:600]}")
        print(f"    {finding.detail}")
        cid = re.search(r"correlation_id ([0-9a-f]{32})", finding.detail)
        if cid and cid.group(1) in tracebacks:
            print("    " + tracebacks[cid.group(1)].replace("\n", "\n    "))


def free_ports() -> Ports:
    """Four free loopback ports (for the smoke test; the bench uses fixed ones)."""
    import socket

    found = []
    sockets = []
    for _ in range(4):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
        found.append(s.getsockname()[1])
    for s in sockets:
        s.close()
    return Ports(http=found[0], agi=found[1], ami=found[2], sip=found[3])


@dataclass
class Outcome:
    run: Run
    seconds: float
    health: Any
    alive: bool

    @property
    def failed(self) -> bool:
        r = self.run
        # Without a PBX the service is "degraded" (503 on newer versions): answering at all is what counts.
        healthy = self.health is not None and self.health[0] in (200, 503) and isinstance(self.health[1], dict)
        bad = r.server_errors or r.hangs or r.connection_failures or r.auth_bypasses
        return bool(bad or not healthy or not self.alive)


def fuzz(
    ports: Ports, *, cases: int, raw: int, seed_value: int, hang_seconds: float = 2.0, timeout: float = 10.0,
    time_limit: float = 1200.0, report: bool = True, keep: bool = False,
) -> Outcome:  # fmt: skip
    workdir = Path(tempfile.mkdtemp(prefix="fuzz-api-"))
    service = Service(ports, workdir)
    run = Run(hang_seconds)
    started = time.monotonic()
    deadline = started + time_limit
    service.start()
    try:
        spec = fetch_spec(service.base)
        run.notes.extend(augment_spec(spec))
        sessions = Sessions()
        run_schemathesis(service, spec, run, sessions, cases=cases, seed_value=seed_value, timeout=timeout,
                         deadline=deadline)  # fmt: skip
        if raw:
            run_raw(service, spec, run, sessions, cases=raw, seed_value=seed_value, timeout=timeout, deadline=deadline)
        run_stream(service, run, sessions, timeout)
        health = service.health()
        alive = service.alive
        seconds = time.monotonic() - started
        run.notes.append(f"{sessions.addresses_used} loopback source addresses used")
    finally:
        service.stop()
    if report:
        print_report(run, service, seconds, health, alive)
        print(f"service log: {service.log_path}" if keep else "")
    return Outcome(run, seconds, health, alive)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=10_000, help="schemathesis requests, at least (default 10000)")
    parser.add_argument("--raw", type=int, default=2_000, help="raw probes (default 2000)")
    parser.add_argument("--seed", type=int, default=None, help="hypothesis seed (default: random, printed)")
    parser.add_argument("--hang-seconds", type=float, default=2.0, help="a request slower than this is a hang")
    parser.add_argument("--timeout", type=float, default=10.0, help="request timeout (counted as a hang)")
    parser.add_argument("--time-limit", type=float, default=1200.0, help="stop generating after this many seconds")
    parser.add_argument("--http-port", type=int, default=8380)
    parser.add_argument("--agi-port", type=int, default=4873)
    parser.add_argument("--ami-port", type=int, default=5938, help="nothing may listen there: no PBX")
    parser.add_argument("--sip-port", type=int, default=5960)
    args = parser.parse_args(argv)
    seed_value = args.seed if args.seed is not None else random.randrange(2**32)
    print(f"fuzz_api: seed {seed_value}; at least {args.cases} schemathesis requests, {args.raw} raw probes; "
          f"ivr serve on 127.0.0.1:{args.http_port}")  # fmt: skip
    outcome = fuzz(
        Ports(args.http_port, args.agi_port, args.ami_port, args.sip_port), cases=args.cases, raw=args.raw,
        seed_value=seed_value, hang_seconds=args.hang_seconds, timeout=args.timeout, time_limit=args.time_limit,
        keep=True,
    )  # fmt: skip
    return 1 if outcome.failed else 0


if __name__ == "__main__":
    sys.exit(main())
