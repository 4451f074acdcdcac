"""Commands that bring events in: `send` (a CMS in one command) and `backfill` (an archive)."""

from __future__ import annotations

import json
import shlex
import signal
import sys
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from urllib.parse import urlsplit

import click
import requests
from standardwebhooks.webhooks import Webhook

from cli.common import (
    ops_runtime,
    render_by_workers,
    require_renderers,
    settings_or_exit,
    with_running_service,
)
from cli.group import main
from worker.ops import BackfillReport, backfill_line, mark_backfilled


@main.command()
@click.argument("event_file", type=click.File("rb"))
@click.option(
    "--url",
    default=None,
    help="the API's base URL (default: the running `syndicate run`, else :8000)",
)
@click.option("--id", "event_id", default=None, help="webhook-id (default: the file's id field)")
def send(event_file, url: str, event_id: str | None) -> None:
    """Sign EVENT_FILE with SYNDICATE_WEBHOOK_SECRET (or DATA_DIR/webhook-secret) and POST it.

    \b
    Example:
      syndicate send tests/fixtures/events/seed-article-published.json
      syndicate send event.json --url https://feeds.example.org --id evt-123
    """
    settings = with_running_service(settings_or_exit())
    url = _base_url(url) if url else settings.public_url or "http://127.0.0.1:8000"
    secret = settings.webhook_secret
    if secret is None:
        path = settings.data_dir / "webhook-secret"
        if not path.exists():
            raise click.ClickException(
                f"no webhook secret: set SYNDICATE_WEBHOOK_SECRET, or run this where `syndicate "
                f"run` keeps its data ({path} does not exist)"
            )
        secret = path.read_text().strip()
    body = event_file.read()
    text, payload = _one_event(event_file.name, body)
    event_id = event_id or payload.get("id")
    if not isinstance(event_id, str) or not event_id:
        raise click.ClickException(
            f'{event_file.name} has no "id" field: add one, or pass --id EVENT_ID'
        ) from None
    now = datetime.now(UTC)
    headers = {
        "content-type": "application/json",
        "webhook-id": event_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(event_id, now, text),
    }
    try:
        r = requests.post(url.rstrip("/") + "/events", data=body, headers=headers, timeout=10)
    except requests.ConnectionError:
        raise click.ClickException(
            f"no service at {url}: is `syndicate run` running? (or pass --url)"
        ) from None
    except requests.Timeout:
        raise click.ClickException(
            f"{url} did not answer within 10 s: the event may or may not "
            "have arrived; sending it again is safe (same id)"
        ) from None
    except requests.RequestException as exc:
        raise click.ClickException(f"cannot send to {url}: {type(exc).__name__}") from None
    if r.status_code == 401:
        raise click.ClickException(
            "the signature does not match the service's secret: check that "
            "SYNDICATE_WEBHOOK_SECRET here is the service's (or unset it to use "
            f"{settings.data_dir / 'webhook-secret'})"
        )
    click.echo(f"{r.status_code} {r.text.strip()}")
    if r.status_code == 422:
        errors = r.json().get("errors", [])
        for error in errors[:10]:
            click.echo(f"  {error['field']}: {error['message']}", err=True)
    if r.status_code >= 300:
        raise SystemExit(1)


def _base_url(url: str) -> str:
    """`--url` as given, if it is an http(s) URL with a host; else one line saying what to type."""
    try:
        parts = urlsplit(url.strip())
        if parts.scheme in ("http", "https") and parts.hostname:
            return url.strip()
    except ValueError:
        pass
    hint = f" (did you mean http://{url.strip()} ?)" if "://" not in url else ""
    raise click.ClickException(f"--url {url!r} is not an http:// or https:// URL{hint}")


def _one_event(name: str, body: bytes) -> tuple[str, dict]:
    """The text and the JSON object of one event file; a file of several events (JSON lines, an
    array) is pointed to `backfill`, which imports an archive."""
    try:
        text = body.decode("utf-8")
        payload = json.loads(text)
    except UnicodeDecodeError:
        raise click.ClickException(f"{name} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":
            raise click.ClickException(
                f"{name} holds more than one JSON document (line {exc.lineno} starts another): "
                "`send` posts one event; to import an archive of events, one per line, use "
                f"`syndicate backfill {name}`"
            ) from None
        raise click.ClickException(
            f"{name} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    if isinstance(payload, list):
        raise click.ClickException(
            f"{name} holds a JSON array ({len(payload)} items): `send` posts one event, a JSON "
            "object; to import many, write one event per line (JSON lines) and use "
            f"`syndicate backfill FILE`"
        )
    if not isinstance(payload, dict):
        raise click.ClickException(
            f"{name} holds a JSON {type(payload).__name__}, not an event "
            '(a JSON object with "id", "type" and "article")'
        )
    return text, payload


# While importing, a stop asked for (Ctrl-C, SIGTERM, the terminal closing) ends the import
# between two lines, never inside one; the feeds touched so far are queued for rendering, and
# queued again every MARK_EVERY_S meanwhile, so even a kill leaves little unannounced.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
MARK_EVERY_S = 5.0


@contextmanager
def _signals(handler):
    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


@main.command()
@click.argument("archive", type=click.File("r", encoding="utf-8"))
def backfill(archive) -> None:
    """Import ARCHIVE (JSON lines, one event each): no posts, each feed rendered once at the end.

    \b
    Stopped (Ctrl-C, SIGTERM, the terminal closed), it stops between two lines: the feeds of
    what was imported are queued for rendering, and it says what to run next. Running it again
    is safe: lines already applied are skipped as already current."""

    rt = ops_runtime()
    require_renderers(rt)  # before anything is imported: a refused command changes nothing
    lines = archive.readlines()
    rt.store.actions.record("backfill", f"{archive.name}: {len(lines)} lines")
    report = BackfillReport()
    stop: list[int] = []
    next_mark = time.monotonic() + MARK_EVERY_S
    try:
        with (
            _signals(lambda signum, frame: stop.append(signum)),
            click.progressbar(
                enumerate(lines, 1),
                length=len(lines),
                label="importing",
                show_pos=True,
                file=sys.stderr,
            ) as bar,
        ):
            for number, line in bar:
                backfill_line(rt, number, line, report)
                if time.monotonic() >= next_mark:
                    mark_backfilled(rt, report)
                    next_mark = time.monotonic() + MARK_EVERY_S
                if stop:
                    break
    finally:
        mark_backfilled(rt, report)  # whatever ended the import
    if stop:
        _stopped(archive.name, report, len(lines), signal.Signals(stop[0]).name)
    feeds = sorted(report.feeds)
    with _signals(_interrupt):
        try:
            changed = render_by_workers(rt, feeds, again=False)  # each feed once
        except KeyboardInterrupt:
            click.echo(
                f"\nbackfill: {report.applied} applied; stopped while rendering: the "
                f"{len(feeds)} feeds are queued and the service's renderers render them "
                "(`syndicate status` shows how many wait)",
                err=True,
            )
            raise SystemExit(130) from None
    click.echo(
        f"backfill: {report.applied} applied, {report.unchanged} already current, "
        f"{len(report.rejected)} rejected; {len(feeds)} feeds rendered ({changed} changed); "
        "nothing shared"
    )
    for number, reason in report.rejected[:20]:
        click.echo(f"  line {number}: {reason}", err=True)
    if report.rejected:
        raise SystemExit(1)


def _stopped(name: str, report: BackfillReport, total: int, signame: str) -> None:
    click.echo(
        f"\nbackfill stopped ({signame}) after line {report.lines} of {total}: "
        f"{report.applied} applied, {report.unchanged} already current, "
        f"{len(report.rejected)} rejected. The {len(report.feeds)} feeds they are in are queued "
        "for rendering (`syndicate status` shows how many wait).\n"
        f"Next: `syndicate backfill {shlex.quote(name)}` imports the rest (lines already "
        "applied are skipped).",
        err=True,
    )
    raise SystemExit(130)
