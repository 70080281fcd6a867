"""Render the catalog through `dialplans/*.j2` into Asterisk's configuration.

Rendering is pure (catalog + settings -> {file name: text}); writing is
atomic: the files go to a temporary sibling directory which then replaces the
target by rename, so Asterisk never reads a half-written configuration. Mount
the *parent* of the output directory into the container (see
docker-compose.yml): a bind mount of the directory itself would keep pointing
at the old inode after the swap.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import jinja2

from ivr.catalog.model import Catalog
from ivr.settings import Settings

HEADER = "Rendered by `ivr render` from the catalog and dialplans/: do not edit, edit those."


@dataclass(frozen=True, slots=True)
class ContainerPaths:
    """Where the host's run directory appears inside the Asterisk container."""

    root: str = "/srv/ivr"
    etc: str = "/srv/ivr/etc"
    lib: str = "/srv/ivr/lib"
    log: str = "/srv/ivr/log"
    sounds: str = "/srv/ivr/sounds"


class TemplateError(Exception):
    """A template failed to render: `template` and `line` say where."""

    def __init__(self, template: str, line: int | None, reason: str) -> None:
        self.template = template
        self.line = line
        self.reason = reason
        where = f"{template}:{line}" if line else template
        super().__init__(f"{where}: {reason}")


def _environment(templates: Path) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def _template_line(exc: BaseException, template_file: str) -> int | None:
    """The line in the template where rendering failed, from Jinja's rewritten traceback."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.endswith(template_file):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def render_config(catalog: Catalog, settings: Settings, templates: Path | None = None) -> dict[str, str]:
    """Render every `*.j2` template; returns {output file name: text}."""
    templates = templates or settings.templates
    names = sorted(p.name for p in templates.glob("*.j2"))
    if not names:
        raise TemplateError(str(templates), None, "no *.j2 templates found")
    env = _environment(templates)
    context = {
        "catalog": catalog,
        "settings": settings,
        "paths": ContainerPaths(),
        "header": HEADER,
        "seat_password": settings.seat_password,
    }
    out: dict[str, str] = {}
    for name in names:
        path = templates / name
        try:
            template = env.get_template(name)
            out[name.removesuffix(".j2")] = template.render(context)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(str(path), exc.lineno, f"syntax error: {exc.message}") from exc
        except jinja2.UndefinedError as exc:
            raise TemplateError(str(path), _template_line(exc, name), f"undefined: {exc.message}") from exc
        except Exception as exc:  # a template can raise anything: report where
            raise TemplateError(str(path), _template_line(exc, name), f"{type(exc).__name__}: {exc}") from exc
    return out


ASTERISK_GID = 2001
"""The asterisk group's id in the image (docker/asterisk/Dockerfile, build argument ASTERISK_GID)."""


def write_config(files: dict[str, str], out_dir: Path, *, group: int = ASTERISK_GID) -> None:
    """Write `files` into `out_dir`, replacing it atomically.

    The files hold secrets (seat passwords, AMI secrets): they are readable by
    their owner and by the PBX's `asterisk` group only (0640, directory 0750).
    Without the right to give them to that group (not root), they stay the
    owner's alone, which is enough to read them but not for the PBX to run them.
    """
    out_dir = out_dir.absolute()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.new-", dir=out_dir.parent))
    try:
        for name, text in files.items():
            path = staging / name
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
        for path in (staging, *(staging / name for name in files)):
            with contextlib.suppress(PermissionError):
                os.chown(path, -1, group)
            path.chmod(0o750 if path == staging else 0o640)
        if out_dir.exists():
            _exchange(staging, out_dir)  # staging now holds the old config
            shutil.rmtree(staging, ignore_errors=True)
        else:
            os.rename(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _exchange(a: Path, b: Path) -> None:
    """Swap two directories in one step (Linux renameat2 RENAME_EXCHANGE), so
    there is no instant at which `b` is missing; elsewhere, two renames."""
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is not None:
        at_fdcwd, rename_exchange = -100, 2
        if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
            return
    aside = a.with_name(a.name + ".swap")
    os.rename(b, aside)
    os.rename(a, b)
    os.rename(aside, a)
