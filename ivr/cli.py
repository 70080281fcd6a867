"""The `ivr` command line: one subcommand per ops task.

Exit codes: 0 success, 1 the thing checked is wrong (bad catalog, broken
template, failed check), 2 usage errors (argparse).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ivr.catalog.errors import CatalogError
from ivr.catalog.model import Catalog
from ivr.render import TemplateError
from ivr.settings import Settings, load_settings


def _catalog(settings: Settings, command: str) -> Catalog | None:
    """The catalog, or None after printing why it does not load (exit code 1)."""
    from ivr.check import load_checked_catalog as load_catalog

    try:
        return load_catalog(settings.catalog)
    except CatalogError as exc:
        print(f"ivr {command}: {exc}", file=sys.stderr)
        return None


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, object] = {}
    if getattr(args, "catalog", None):
        overrides["catalog"] = Path(args.catalog)
    if getattr(args, "templates", None):
        overrides["templates"] = Path(args.templates)
    return load_settings(**overrides)


def _checked(settings: Settings, refusal: str) -> dict[str, str] | None:
    """Catalog + templates checked and rendered, or None after printing `refusal` and every problem."""
    from ivr.check import CheckFailed, check

    try:
        return check(settings)
    except (CatalogError, TemplateError, CheckFailed) as exc:
        print(f"{refusal}\n{exc}", file=sys.stderr)
        return None


def cmd_check(args: argparse.Namespace) -> int:
    settings = _settings(args)
    files = _checked(settings, "ivr check: FAILED")
    if files is None:
        return 1
    print(f"ivr check: OK ({settings.catalog}, {len(files)} files from {settings.templates}/)")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from ivr.render import write_config

    settings = _settings(args)
    files = _checked(settings, "ivr render: nothing written, the check failed")
    if files is None:
        return 1
    out = Path(args.out)
    write_config(files, out)
    print(f"ivr render: wrote {len(files)} files to {out}/")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from ivr.serve import serve

    return serve(_settings(args))


def cmd_seat_password(args: argparse.Namespace) -> int:
    print(load_settings().seat_password(args.seat))
    return 0


def cmd_generate_seats(args: argparse.Namespace) -> int:
    import yaml

    from ivr.catalog.generate import catalog_with_seats, generate_seats

    settings = _settings(args)
    catalog = _catalog(settings, "generate-seats")
    if catalog is None:
        return 1
    seats = generate_seats(catalog, args.count, first_id=args.first_id)
    text = yaml.safe_dump(catalog_with_seats(catalog, seats), allow_unicode=True, sort_keys=False)
    if args.out == "-":
        sys.stdout.write(text)
    else:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"ivr generate-seats: {len(seats)} seats written to {args.out}")
    return 0


def cmd_reload(args: argparse.Namespace) -> int:
    import asyncio
    import getpass

    from ivr import log as logging_setup
    from ivr.audit import SqliteAuditTrail
    from ivr.reload import ReloadFailed, ReloadUnavailable, apply_reload, plan_reload, read_config_dir, reload_session

    settings = _settings(args)
    logging_setup.configure("warning")
    files = _checked(settings, f"ivr reload: REFUSED, the check failed; the PBX keeps running {settings.etc_dir}")
    if files is None:
        return 1
    plan = plan_reload(read_config_dir(settings.etc_dir), files)
    if plan.empty:
        print("ivr reload: nothing changed")
        return 0
    sys.stdout.write(plan.diff)
    print(f"changed: {', '.join(plan.changed)}; modules to reload: {', '.join(plan.modules) or '-'}")
    if args.dry_run:
        return 0

    async def run() -> int:
        # The reload user's AMI session lives only while this reload runs.
        audit = SqliteAuditTrail(settings.audit_db)
        try:
            result = await apply_reload(files, settings.etc_dir, lambda: reload_session(settings), audit,
                                        who=f"cli:{getpass.getuser()}", role="admin")  # fmt: skip
        except ReloadUnavailable as exc:
            print(f"ivr reload: {exc}", file=sys.stderr)
            return 2
        except ReloadFailed as exc:
            print(f"ivr reload: FAILED: {exc}", file=sys.stderr)
            return 1
        finally:
            audit.close()
        print(f"ivr reload: applied and verified ({', '.join(result.verified)})")
        return 0

    return asyncio.run(run())


def since_filter(events: list[Any], since: float) -> list[Any]:
    """Whole calls that joined a queue at or after `since`, plus seat events from then.

    Calls are kept or dropped whole (a call that joined before `since` and ended
    after it would otherwise count on one side only), and times are compared in
    whole seconds, the resolution of queue_log."""
    from ivr.metrics.events import CallerJoined

    cut = int(since)
    joined = {e.uniqueid for e in events if isinstance(e, CallerJoined) and int(e.at) >= cut}
    return [e for e in events if (e.uniqueid in joined if getattr(e, "uniqueid", None) else int(e.at) >= cut)]


def cmd_reconcile(args: argparse.Namespace) -> int:
    """Rebuild KPIs from Asterisk's queue_log and from the event store; report differences."""
    import time

    from ivr.metrics.adapters.store import SqliteEventStore
    from ivr.metrics.intake import CallerKeyer
    from ivr.metrics.kpi import center_day_start
    from ivr.metrics.queue_log import parse_queue_log
    from ivr.metrics.reconcile import reconcile
    from ivr.metrics.reducer import group_configs

    settings = _settings(args)
    catalog = _catalog(settings, "reconcile")
    if catalog is None:
        return 1
    store_path = Path(args.store) if args.store else settings.event_store
    log_path = Path(args.queue_log) if args.queue_log else settings.queue_log
    for path in (store_path, log_path):
        if not path.is_file():
            print(f"ivr reconcile: {path} does not exist", file=sys.stderr)
            return 2
    keyer = CallerKeyer(settings.caller_salt.get_secret_value().encode())
    with log_path.open(encoding="utf-8", errors="replace") as handle:
        parsed = parse_queue_log(handle, keyer)
    store = SqliteEventStore(store_path)
    try:
        stored = [event for _, event in store.read()]
    finally:
        store.close()
    log_events = list(parsed.events)
    if args.since is not None:
        stored, log_events = since_filter(stored, args.since), since_filter(log_events, args.since)
    # Days are cut at the center's midnight today; as an offset from UTC midnight,
    # which is all reconcile needs to cut every day the same way.
    midnight_offset = int(-center_day_start(time.time(), catalog.center.timezone) % 86400)
    result = reconcile(stored, log_events, group_configs(catalog), midnight_offset)
    for problem in parsed.problems:
        print(f"queue_log line {problem.line_no}: {problem.reason}", file=sys.stderr)
    print(f"events: store {len(stored)}, queue_log {len(log_events)}")
    for diff in result.differences:
        day = datetime.fromtimestamp(diff.day_start, ZoneInfo(catalog.center.timezone)).date()
        print(f"DIFF {day} {diff.group} {diff.figure}: store={diff.store:g} queue_log={diff.queue_log:g}")
    for queue, uniqueid in result.only_in_store:
        print(f"ONLY IN STORE {queue} {uniqueid}")
    for queue, uniqueid in result.only_in_queue_log:
        print(f"ONLY IN QUEUE_LOG {queue} {uniqueid}")
    print("reconcile: no difference" if result.matches else "reconcile: DIFFERENCES FOUND")
    return 0 if result.matches else 1


def cmd_prompts_build(args: argparse.Namespace) -> int:
    from ivr.prompts import build_prompts

    settings = _settings(args)
    catalog = _catalog(settings, "prompts build")
    if catalog is None:
        return 1
    out = Path(args.out) if args.out else settings.sounds_dir
    report = build_prompts(settings.prompts, out, catalog.languages)
    print(f"ivr prompts build: {len(report.built)} built, {report.skipped} unchanged, "
          f"{len(report.removed)} removed -> {out}/<lang>/")  # fmt: skip
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    import tempfile

    from ivr.directory import SqliteDirectory
    from ivr.directory.demo import generate_demo_directory
    from ivr.hours import line_is_open
    from ivr.menu.simulate import simulate

    settings = _settings(args)
    catalog = _catalog(settings, "simulate")
    if catalog is None:
        return 1
    digits = [d for d in (args.digits or "").split(",") if d != ""]
    try:
        at = datetime.fromisoformat(args.at) if args.at else datetime.now(UTC)
    except ValueError:
        print(f"ivr simulate: --at {args.at!r} is not an ISO date and time", file=sys.stderr)
        return 2
    if at.tzinfo is None:
        at = at.replace(tzinfo=ZoneInfo(catalog.center.timezone))
    with tempfile.TemporaryDirectory() as tmp:
        path = settings.directory_db if settings.directory_db.is_file() else Path(tmp) / "demo.sqlite3"
        if not path.is_file():
            generate_demo_directory(path)
        directory = SqliteDirectory(path)
        try:
            is_open = line_is_open(catalog, catalog.number(args.number), at)
            lines = simulate(catalog, directory, args.number, args.caller, digits, is_open=is_open)
        except KeyError:
            print(f"ivr simulate: no service number or line {args.number!r} in the catalog", file=sys.stderr)
            return 1
        finally:
            directory.close()
    print("\n".join(lines))
    return 0


def cmd_menu_map(args: argparse.Namespace) -> int:
    from ivr.menu.mapview import menu_map_html
    from ivr.prompts import load_prompt_texts

    settings = _settings(args)
    catalog = _catalog(settings, "menu-map")
    if catalog is None:
        return 1
    texts = {lang.code: load_prompt_texts(settings.prompts, lang.code) for lang in catalog.languages}
    Path(args.out).write_text(menu_map_html(catalog, texts), encoding="utf-8")
    print(f"ivr menu-map: wrote {args.out}")
    return 0


def cmd_directory_demo(args: argparse.Namespace) -> int:
    from ivr.directory.demo import DEMO_CALLER, DEMO_CARD_LAST4, generate_demo_directory

    settings = _settings(args)
    out = Path(args.out) if args.out else settings.directory_db
    if out.exists() and not args.force:
        print(f"ivr directory demo: {out} exists (use --force to replace it)")
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    generate_demo_directory(out)
    print(f"ivr directory demo: wrote {out} (test customer: caller {DEMO_CALLER}, card ending {DEMO_CARD_LAST4})")
    return 0


def cmd_emergency(args: argparse.Namespace) -> int:
    import getpass

    from ivr.audit import SqliteAuditTrail
    from ivr.emergency import EmergencyError, EmergencyStore, emergency_switch

    settings = _settings(args)
    catalog = _catalog(settings, "emergency")
    if catalog is None:
        return 1
    store, audit = EmergencyStore(settings.emergency_db), SqliteAuditTrail(settings.audit_db)
    switch = emergency_switch(settings, catalog, store, audit)
    who = f"cli:{getpass.getuser()}"
    try:
        if args.action == "on":
            if not args.prompt:
                print("ivr emergency on: --prompt is required", file=sys.stderr)
                return 2
            on = switch.switch_on(args.line, args.prompt, args.minutes * 60, who=who, role="admin")
            until = datetime.fromtimestamp(on.expires_at, UTC).isoformat(timespec="seconds")
            print(f"ivr emergency: {on.prompt} plays before every menu on {on.scope} until {until}")
        elif args.action == "off":
            before = switch.switch_off(args.line, who=who, role="admin")
            print(f"ivr emergency: {args.line} off" + (f" (was {before.prompt})" if before else " (was not on)"))
        else:
            active = switch.active()
            for a in active:
                until = datetime.fromtimestamp(a.expires_at, UTC).isoformat(timespec="seconds")
                print(f"{a.scope}: {a.prompt} until {until} (set by {a.set_by})")
            if not active:
                print("ivr emergency: no announcement in force")
    except EmergencyError as exc:
        print(f"ivr emergency: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
        audit.close()
    return 0


def cmd_native(args: argparse.Namespace) -> int:
    from ivr import native

    if args.action == "build":
        return native.build(force=args.force)
    print(f"{native.status()} ({'fresh build' if native.is_fresh() else 'no build, or a stale one'}): "
          f"{', '.join(native.MODULES)}")  # fmt: skip
    return 0


def _scheduling(command: str) -> Callable[[argparse.Namespace], int]:
    """A scheduling subcommand (ivr/scheduling/commands.py) with the settings and catalog loaded."""

    def run(args: argparse.Namespace) -> int:
        from ivr.scheduling import commands

        settings = _settings(args)
        catalog = _catalog(settings, command)
        if catalog is None:
            return 1
        handler: Callable[[Settings, Catalog, argparse.Namespace], int] = getattr(commands, command)
        return handler(settings, catalog, args)

    return run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ivr",
        description="IVR and telephony control plane for a credit-card contact center on Asterisk 22.",
        epilog="Settings come from IVR_* environment variables and IVR_SECRETS_FILE (see README).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler: Callable[[argparse.Namespace], int], help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(handler=handler)
        return p

    def catalog_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--catalog", help="catalog YAML file (default: $IVR_CATALOG or callcenter.yaml)")
        p.add_argument("--templates", help="template directory (default: $IVR_TEMPLATES or dialplans)")

    p = add("check", cmd_check, "Validate the catalog and the templates together; render nothing.")
    catalog_options(p)

    p = add("render", cmd_render, "Check, then write Asterisk's configuration directory atomically.")
    catalog_options(p)
    p.add_argument("--out", required=True, help="output directory (replaced as a whole, atomically)")

    p = add("serve", cmd_serve, "Run the ivr service: FastAGI, the AMI client and the HTTP API.")
    catalog_options(p)

    p = add("seat-password", cmd_seat_password, "Print the SIP password of a seat (derived from IVR_SEAT_SECRET).")
    p.add_argument("seat", help="seat id, e.g. 1001")

    p = add(
        "generate-seats", cmd_generate_seats, "Write a copy of the catalog with N generated seats (case study: 1795)."
    )
    catalog_options(p)
    p.add_argument("--count", type=int, default=1795, help="number of seats (default 1795)")
    p.add_argument("--first-id", type=int, default=2001, help="first seat id (default 2001)")
    p.add_argument("--out", default="-", help="output file, - for stdout (default)")
    p = add("prompts", cmd_prompts_build, "Build the prompt recordings (espeak-ng + sox, 8 kHz mono WAV).")
    catalog_options(p)
    p.add_argument(
        "action", choices=["build"],
        help="build: write OUT/<lang>/<id>.wav (prompts/<lang>.yaml) and OUT/<lang>/<name>.wav"
             " (prompts/asterisk/<lang>.yaml: queue-*, digits/*), skipping unchanged texts",
    )  # fmt: skip
    p.add_argument("--out", help="output directory (default: RUN_DIR/sounds)")

    p = add("simulate", cmd_simulate, "Walk a line's menu offline with the real engine; print the path and prompts.")
    catalog_options(p)
    p.add_argument("number", help="service number or line id, e.g. 95588")
    p.add_argument("--caller", default="13800000000", help="caller ID (demo customers: 13900000001..6)")
    p.add_argument("--digits", default="", help="keys, comma separated, e.g. 1,2,#  (then silence)")
    p.add_argument("--at", help="time of the call, ISO 8601 (default now; local to center.timezone without offset)")

    p = add("menu-map", cmd_menu_map, "Write an HTML page showing every line's menu tree.")
    catalog_options(p)
    p.add_argument("--out", default="menu-map.html", help="output file (default menu-map.html)")

    p = add("directory", cmd_directory_demo, "Write the demo customer directory (SQLite).")
    catalog_options(p)
    p.add_argument("action", choices=["demo"], help="demo: generate demo customers")
    p.add_argument("--out", help="output file (default: RUN_DIR/customers.sqlite3)")
    p.add_argument("--force", action="store_true", help="replace an existing file")

    p = add(
        "reload", cmd_reload,
        "Check, diff against what the PBX runs, apply only what changed, verify, roll back on failure.",
    )  # fmt: skip
    catalog_options(p)
    p.add_argument("--dry-run", action="store_true", help="show the diff and the modules to reload; apply nothing")

    p = add(
        "emergency", cmd_emergency,
        "Switch the emergency announcement (played before every menu) on or off, or show it; audited.",
    )  # fmt: skip
    catalog_options(p)
    p.add_argument("action", choices=["on", "off", "status"])
    p.add_argument("--line", default="all", help="line id (main, vip, platinum, group) or all (default)")
    p.add_argument("--prompt", help="recorded prompt id, e.g. emergency_system_maintenance (for on)")
    p.add_argument("--minutes", type=float, default=120, help="how long it stays on (default 120)")

    p = add("native", cmd_native, "Compile the hot paths with mypyc (build), or say whether they run compiled.")
    p.add_argument("action", choices=("build", "status"), help="build: compile when stale; status: what is in use")
    p.add_argument("--force", action="store_true", help="build even when the build is up to date")

    p = add("reconcile", cmd_reconcile, "Rebuild KPIs from Asterisk's queue_log and the event store; list differences.")
    catalog_options(p)
    p.add_argument("--store", help="event store (default: RUN_DIR/events.sqlite3)")
    p.add_argument("--queue-log", help="Asterisk queue_log (default: RUN_DIR/log/queue_log)")
    p.add_argument("--since", type=float, help="only events at or after this epoch time")

    def window(p: argparse.ArgumentParser, days: int) -> None:
        p.add_argument("--first-day", help="first local day, YYYY-MM-DD (default: tomorrow)")
        p.add_argument("--days", type=int, default=days, help=f"days (1-14, default {days})")
        p.add_argument("--method", choices=("seasonal", "model", "best"), default="best",
                       help="forecast: seasonal averages, the time-series model, or the better on held-out days")

    p = add("history", _scheduling("history"),
            "Interval history for the forecast: generate demo weeks (the case study's curve) or show what is stored.")
    catalog_options(p)
    p.add_argument("action", choices=("generate", "show"))
    p.add_argument("--days", type=int, default=56, help="generate: days of history ending yesterday (default 56)")
    p.add_argument("--first-day", help="generate: first local day (default: DAYS ago)")
    p.add_argument("--calls-per-day", type=float, default=1200,
                   help="generate: calls a day (default 1200, what the demo's 30 seats take; case study: 108000)")
    p.add_argument("--seed", type=int, default=95588)

    p = add("forecast", _scheduling("forecast"), "Forecast calls and handle time per group and 15-minute interval.")
    catalog_options(p)
    window(p, 1)
    p.add_argument("--csv", help="also write the intervals to this CSV file")
    p.add_argument("--accuracy", action="store_true", help="report WAPE of both methods on held-out days instead")
    p.add_argument("--holdout-days", type=int, default=7, help="with --accuracy (default 7)")

    p = add("staffing", _scheduling("staffing"),
            "Agents required per group and interval (Erlang C, Erlang A where callers abandon).")
    catalog_options(p)
    window(p, 1)

    p = add("schedule", _scheduling("schedule"),
            "Shift plans: build (CP-SAT) a draft, show it (CSV), publish it, simulate it, or draw a day (SVG).")
    catalog_options(p)
    p.add_argument("action", choices=("build", "show", "publish", "simulate", "chart"))
    window(p, 7)
    p.add_argument("--plan", type=int, help="plan id (default: the newest)")
    p.add_argument("--seat", help="show: one agent's shifts")
    p.add_argument("--day", help="chart: the local day to draw (default: the plan's first)")
    p.add_argument("--out", help="show: CSV file (default stdout); chart: SVG file")
    p.add_argument("--time-limit", type=float, default=60, help="build: solver seconds (default 60)")
    p.add_argument("--workers", type=int, default=2, help="build: solver threads (default 2)")
    p.add_argument("--simulation-rounds", type=int, default=0, choices=range(4), metavar="N",
                   help="build: check by simulation and solve again with more agents where it is short, N times (0-3)")
    p.add_argument("--runs", type=int, default=5, help="simulate: runs with different seeds (1-10, default 5)")
    p.add_argument("--seed", type=int, default=0, help="simulate: seed of the first run")
    p.add_argument("--top", type=int, default=20, help="simulate: short hours to print")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    return handler(args)


if __name__ == "__main__":
    raise SystemExit(main())
