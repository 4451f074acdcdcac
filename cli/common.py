"""What the commands share: settings read once (a bad value is one line and exit 1), logging,
the running service a command acts on, and asking the service's renderers to render."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

import click

from syndicate.config import ConfigError, Settings
from syndicate.connections import with_password
from syndicate.logs import setup
from worker import rendering
from worker.runtime import configure
from worker.social import network_settings

OPTIONS = {"log_json": False}
# Where `run` leaves what it decided (embedded Redis URL, public URL) for the operator commands.
RUN_FILE = "run.json"


def settings_or_exit() -> Settings:
    """The settings, every network's included: a bad value is one line and exit 1."""

    try:
        settings = Settings.from_env()
        network_settings(settings)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    return settings.with_(log_json=True) if OPTIONS["log_json"] else settings


def setup_logging(settings: Settings) -> None:

    setup(settings.log_json)


def redacted(url: str) -> str:

    parts = urlsplit(url)
    if parts.password:
        return url.replace(parts.password, "***")
    return url


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def running_service(data_dir: Path) -> dict | None:
    """What the `syndicate run` on this data directory decided, or None when none runs there.
    A run file whose process is gone (the terminal was closed, the machine rebooted) is named
    once on stderr and ignored."""
    path = data_dir / RUN_FILE
    try:
        decided = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        click.echo(f"syndicate: ignoring {path.resolve()}: unreadable", err=True)
        return None
    if not isinstance(decided, dict) or not _alive(decided.get("pid")):
        click.echo(
            f"syndicate: a `syndicate run` (pid {decided.get('pid') if isinstance(decided, dict) else '?'}) "
            f"on {data_dir.resolve()} is no longer running; ignoring {path.name}",
            err=True,
        )
        return None
    return decided


def with_running_service(settings: Settings) -> Settings:
    """Fill in what a `syndicate run` on the same data directory decided, where not configured."""
    if settings.redis_url is not None:
        return settings
    decided = running_service(settings.data_dir)
    if decided is None:
        return settings
    if decided.get("redis_password_file"):  # the embedded Redis's (see `run`)
        decided["redis_url"] = with_password(
            decided["redis_url"], Path(decided["redis_password_file"]).read_text().strip()
        )
    return settings.with_(
        redis_url=decided["redis_url"], public_url=settings.public_url or decided["public_url"]
    )


def with_kept_secrets(settings: Settings) -> Settings:
    """The webhook secret and operator token `run` keeps in the data directory, where the
    environment sets none (what `run` itself uses)."""
    found = {}
    for name, file in (("webhook_secret", "webhook-secret"), ("admin_token", "admin-token")):
        path = settings.data_dir / file
        if getattr(settings, name) is None and path.is_file():
            try:
                found[name] = path.read_text().strip() or None
            except OSError:
                continue
    return settings.with_(**{k: v for k, v in found.items() if v})


def ops_runtime():
    """Settings and runtime for the operator commands: SYNDICATE_REDIS_URL, else the Redis of a
    `syndicate run` using the same data directory."""

    settings = with_running_service(settings_or_exit())
    if settings.redis_url is None:
        raise click.ClickException(
            "no SYNDICATE_REDIS_URL, and no `syndicate run` is running with data in "
            f"{settings.data_dir.resolve()} (start one, run this where it runs, or set "
            "SYNDICATE_DATA_DIR to its data directory)"
        )
    rt = configure(settings)
    try:
        rt.store.ping()
    except Exception as exc:
        raise click.ClickException(
            f"Redis at {redacted(settings.redis_url or '')} unreachable: {type(exc).__name__}"
        ) from None
    return rt


def require_renderers(rt) -> None:
    if not rt.store.workers.live_renderers():
        raise click.ClickException(
            "no worker is running: start the service (`syndicate run`, "
            "or `syndicate worker`) and try again; nothing was changed"
        )


def render_by_workers(rt, feeds: list[str], again: bool = True) -> int:
    """Have the service's renderers render these feeds (with the service's configuration, not
    this shell's), showing progress; returns how many changed. A feed whose render failed is
    named; the command then exits 1. Not `again`: only feeds behind their latest change."""
    before = {key: rt.store.feeds.etags(key, ["atom"])[0] for key in feeds}
    failed: list[tuple[str, str]] = []
    try:
        with click.progressbar(
            rendering.by_workers(rt, feeds, again=again),
            length=len(feeds),
            label="rendering",
            show_pos=True,
            file=sys.stderr,
        ) as bar:
            for key, error in bar:
                if error:
                    failed.append((key, error))
    except (rendering.NoRenderer, TimeoutError) as exc:
        raise click.ClickException(f"{exc}; the feeds are marked and will be rendered") from None
    for key, error in failed[:20]:
        click.echo(f"  {key}: render failed: {error}", err=True)
    if failed:
        raise click.ClickException(f"{len(failed)} feeds failed to render (retried with backoff)")
    return sum(rt.store.feeds.etags(key, ["atom"])[0] != etag for key, etag in before.items())
