"""Deployment settings and secrets: loaded once, typed, validated at the edge.

Everything here comes from the environment (`IVR_*`) or from a secrets file
outside git (`IVR_SECRETS_FILE`, KEY=VALUE lines, default
`/etc/ivr/secrets.env`); the environment wins. The defaults are a demo that
listens on loopback only: change the secrets before exposing anything (README,
"Secrets").

Why seat passwords are derived: a center has ~1,800 seats; storing one secret
per seat in a file is a liability. Each seat's SIP password is
HMAC-SHA256(IVR_SEAT_SECRET, seat id), so one secret yields a distinct,
unguessable password per seat, and `ivr seat-password ID` tells an agent theirs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ivr.eventloop import EventLoopName

Port = Annotated[int, Field(ge=1, le=65535)]
DEMO_SECRET = "change-me-demo-secret"
AMI_USER = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,31}")
RENDERED_SECRET = re.compile(r"[A-Za-z0-9._~+/=@%:,!-]{8,128}")


def _loopback(value: str) -> str:
    if not ipaddress.ip_address(value).is_loopback:
        raise ValueError(f"{value} is not a loopback address: this service listens on loopback only")
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IVR_", extra="ignore", frozen=True, env_file_encoding="utf-8")

    catalog: Path = Path("callcenter.yaml")
    templates: Path = Path("dialplans")
    prompts: Path = Path("prompts")
    # Where `ivr up` / the test harness keep the rendered config, logs and state.
    run_dir: Path = Path("run")
    # The event store's file (IVR_EVENT_STORE_PATH), for a disk of its own;
    # default RUN_DIR/events.sqlite3.
    event_store_path: Path | None = None
    pbx_name: str = "ivr-asterisk"

    sip_address: str = "127.0.0.1"  # where Asterisk's SIP transport binds
    sip_port: Port = 5060
    trunk_address: str = "127.0.0.2"  # the simulated PSTN trunk's own source address
    rtp_start: Port = 10000
    rtp_end: Port = 10999
    ami_port: Port = 5038
    agi_host: str = "127.0.0.1"
    agi_port: Port = 4573
    http_host: str = "127.0.0.1"
    http_port: Port = 8080
    # Slow clients: a connection must send a request's whole header within
    # this many seconds of connecting (or of its last response), and a body
    # within as long again; at most this many HTTP connections are open at
    # once (FastAGI and AMI share the process's file descriptors).
    http_header_timeout: float = Field(10.0, gt=0, le=300)
    http_max_connections: int = Field(256, ge=1, le=65536)

    ami_metrics_user: str = "ivr-metrics"
    ami_metrics_secret: SecretStr = SecretStr(DEMO_SECRET + "-metrics")
    ami_control_user: str = "ivr-control"
    ami_control_secret: SecretStr = SecretStr(DEMO_SECRET + "-control")
    # Logs in only for the length of a reload (Reload, ShowDialPlan): see ivr/reload/apply.py.
    ami_reload_user: str = "ivr-reload"
    ami_reload_secret: SecretStr = SecretStr(DEMO_SECRET + "-reload")
    seat_secret: SecretStr = SecretStr(DEMO_SECRET + "-seats")
    # Caller numbers are only ever kept as HMAC(caller_salt, number) (FCR keys).
    caller_salt: SecretStr = SecretStr(DEMO_SECRET + "-caller-salt")
    # HTTP API bearer tokens, `name:role:token` entries (see ivr/web/auth.py);
    # demo_tokens adds viewer-demo / supervisor-demo / admin-demo.
    api_tokens: SecretStr = SecretStr("")
    api_tokens_file: Path | None = None
    demo_tokens: bool = False

    log_level: str = "info"
    log_json: bool = False
    # uvloop when installed (a dependency), else asyncio's own loop; see ivr/eventloop.py.
    event_loop: EventLoopName = "auto"

    _check_agi = field_validator("agi_host")(classmethod(lambda cls, v: _loopback(v)))

    @field_validator("ami_metrics_user", "ami_control_user", "ami_reload_user")
    @classmethod
    def _is_ami_user(cls, value: str) -> str:
        # Rendered as a manager.conf section name: a plain name, nothing that config syntax reads.
        if not AMI_USER.fullmatch(value):
            raise ValueError("an AMI user is 1-32 letters, digits, '-' or '_', starting with a letter")
        return value

    @field_validator("ami_metrics_secret", "ami_control_secret", "ami_reload_secret")
    @classmethod
    def _is_rendered_secret(cls, value: SecretStr) -> SecretStr:
        # Rendered as `secret = ...` in manager.conf: no space, comment or section syntax.
        if not RENDERED_SECRET.fullmatch(value.get_secret_value()):
            raise ValueError("an AMI secret is 8-128 characters of letters, digits and ._~+/=@%:,!-")
        return value

    @field_validator("trunk_address", "sip_address")
    @classmethod
    def _is_ip(cls, value: str) -> str:
        ipaddress.ip_address(value)
        return value

    def seat_password(self, seat_id: str) -> str:
        digest = hmac.new(
            self.seat_secret.get_secret_value().encode(), f"seat:{seat_id}".encode(), hashlib.sha256
        ).digest()
        return base64.b32encode(digest).decode().lower()[:16]

    @property
    def event_store(self) -> Path:
        return self.event_store_path or self.run_dir / "events.sqlite3"

    @property
    def directory_db(self) -> Path:
        """The customer directory (SQLite): `ivr directory demo` writes demo data."""
        return self.run_dir / "customers.sqlite3"

    @property
    def emergency_db(self) -> Path:
        """Emergency announcements in force (ivr.emergency), shared by the service and the CLI."""
        return self.run_dir / "emergency.sqlite3"

    @property
    def schedule_db(self) -> Path:
        """Shift plans and interval history (ivr.scheduling), shared by the service and the CLI."""
        return self.run_dir / "schedule.sqlite3"

    @property
    def sounds_dir(self) -> Path:
        """Built prompts (`ivr prompts build`), mounted in the PBX as /srv/ivr/sounds."""
        return self.run_dir / "sounds"

    @property
    def audit_db(self) -> Path:
        return self.run_dir / "audit.sqlite3"

    @property
    def etc_dir(self) -> Path:
        """The rendered configuration that the PBX runs."""
        return self.run_dir / "etc"

    @property
    def agi_key_file(self) -> Path:
        """The FastAGI key (ivr/agi/auth.py): made by `ivr serve` when missing, read by the
        dialplan as /srv/ivr/<name>; the directory's mode keeps it from other users."""
        return self.run_dir / "agi.key"

    @property
    def queue_log(self) -> Path:
        return self.run_dir / "log" / "queue_log"

    @property
    def uses_demo_secrets(self) -> bool:
        return any(
            s.get_secret_value().startswith(DEMO_SECRET)
            for s in (
                self.ami_metrics_secret, self.ami_control_secret, self.ami_reload_secret, self.seat_secret,
                self.caller_salt,
            )
        )


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment and the secrets file; overrides win (tests)."""
    import os

    secrets_file = Path(os.environ.get("IVR_SECRETS_FILE", "/etc/ivr/secrets.env"))
    env_file = secrets_file if secrets_file.is_file() else None
    return Settings(_env_file=env_file, **overrides)  # type: ignore[arg-type]
