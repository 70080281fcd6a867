"""The `ivr` command line: one subcommand per ops task.

Exit codes: 0 success, 1 the thing checked is wrong (bad catalog, broken
template, failed check), 2 usage errors (argparse).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from ivr.catalog.errors import CatalogError
from ivr.render import TemplateError
from ivr.settings import Settings, load_settings


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, object] = {}
    if getattr(args, "catalog", None):
        overrides["catalog"] = Path(args.catalog)
    if getattr(args, "templates", None):
        overrides["templates"] = Path(args.templates)
    return load_settings(**overrides)


def cmd_check(args: argparse.Namespace) -> int:
    from ivr.check import CheckFailed, check

    settings = _settings(args)
    try:
        files = check(settings)
    except (CatalogError, TemplateError, CheckFailed) as exc:
        print(f"ivr check: FAILED\n{exc}", file=sys.stderr)
        return 1
    print(f"ivr check: OK ({settings.catalog}, {len(files)} files from {settings.templates}/)")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from ivr.check import CheckFailed, check
    from ivr.render import write_config

    settings = _settings(args)
    try:
        files = check(settings)
    except (CatalogError, TemplateError, CheckFailed) as exc:
        print(f"ivr render: nothing written, the check failed\n{exc}", file=sys.stderr)
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
    from ivr.catalog.load import load_catalog

    settings = _settings(args)
    try:
        catalog = load_catalog(settings.catalog)
    except CatalogError as exc:
        print(f"ivr generate-seats: {exc}", file=sys.stderr)
        return 1
    seats = generate_seats(catalog, args.count, first_id=args.first_id)
    text = yaml.safe_dump(catalog_with_seats(catalog, seats), allow_unicode=True, sort_keys=False)
    if args.out == "-":
        sys.stdout.write(text)
    else:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"ivr generate-seats: {len(seats)} seats written to {args.out}")
    return 0


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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    return handler(args)


if __name__ == "__main__":
    raise SystemExit(main())
