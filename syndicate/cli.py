"""The `syndicate` command: run (everything), api, worker; send, backfill, rebuild, replay,
status and check for operators.

User mistakes end in one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import click
import requests
from standardwebhooks.webhooks import Webhook

from api.app import create_app
from api.server import serve
from feeds.membership import is_feed_key
from syndicate.config import ConfigError, Settings, child_environment
from syndicate.embedded_redis import EmbeddedRedis
from syndicate.logs import setup
from syndicate.process import Supervised, background_child
from worker import enqueue
from worker.ops import BackfillReport, backfill_line, dead_letters, overview
from worker.ops import check as run_checks
from worker.ops import replay as replay_all
from worker.rendering import rebuild as rebuild_feeds
from worker.runtime import configure
from worker.social import enabled_networks, network_settings

_options = {"log_json": False}
# Where `run` leaves what it decided (embedded Redis URL, public URL) for the operator commands.
RUN_FILE = "run.json"


def _settings() -> Settings:
    """The settings, every network's included: a bad value is one line and exit 1."""

    try:
        settings = Settings.from_env()
        network_settings(settings)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    return settings.with_(log_json=True) if _options["log_json"] else settings


def _setup_logging(settings: Settings) -> None:

    setup(settings.log_json)


def _private_data_dir(data_dir: Path) -> None:
    """The data dir and everything created in it are the owner's alone (secrets, Redis files)."""
    os.umask(0o077)
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)


def _kept_secret(path: Path, make: Callable[[], str]) -> tuple[str, bool]:
    """The secret kept in `path`, created (owner-only) if missing; True if just created."""
    if path.exists():
        return path.read_text().strip(), False
    secret = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")
    return secret, True


def _with_admin_token(settings: Settings) -> tuple[Settings, bool]:
    """SYNDICATE_ADMIN_TOKEN, else the data dir's `admin-token` (created if missing)."""
    if settings.admin_token:
        return settings, False
    token, created = _kept_secret(settings.data_dir / "admin-token",
                                  lambda: secrets.token_urlsafe(32))
    return settings.with_(admin_token=token), created


def _serve(settings: Settings, host: str, port: int) -> None:

    serve(create_app(settings), settings, host, port)


def _worker_command(extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "worker", "worker", *extra]


@click.group()
@click.option("--log-json", is_flag=True, help="log JSON lines (with event and article ids)")
def main(log_json: bool) -> None:
    """syndicate: CMS events in; RSS, Atom, WebSub pings and social posts out."""
    _options["log_json"] = log_json


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--concurrency", default=2, show_default=True, type=click.IntRange(1, 64),
              help="worker processes")
def run(host: str, port: int, concurrency: int) -> None:
    """Everything on one machine: embedded Redis (unless SYNDICATE_REDIS_URL), API and worker."""

    settings = _settings()
    _setup_logging(settings)
    _private_data_dir(settings.data_dir)
    embedded = None
    worker = None
    try:
        if settings.redis_url is None:
            embedded = EmbeddedRedis(settings.data_dir / "redis")
            try:
                settings = settings.with_(redis_url=embedded.start())
            except (RuntimeError, OSError) as exc:
                raise click.ClickException(f"could not start the embedded Redis: {exc}") from None
        secret_line = "from SYNDICATE_WEBHOOK_SECRET"
        if settings.webhook_secret is None:
            path = settings.data_dir / "webhook-secret"
            secret, created = _kept_secret(
                path, lambda: "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode())
            settings = settings.with_(webhook_secret=secret)
            # A secret is printed only the one time it is made; after that it stays in its file.
            secret_line = f"{secret} (created, kept in {path})" if created else f"kept in {path}"
        settings, token_created = _with_admin_token(settings)
        if settings.public_url is None:
            settings = settings.with_(public_url=f"http://{host}:{port}")
        # So `syndicate status|rebuild|backfill|replay` in another terminal find this service.
        (settings.data_dir / RUN_FILE).write_text(json.dumps(  # owner-only: umask above
            {"redis_url": settings.redis_url, "public_url": settings.public_url}))
        worker = Supervised(
            _worker_command(["--loglevel=INFO", f"--concurrency={concurrency}",
                             "--hostname=syndicate-run@%h", "--without-gossip", "--without-mingle"]),
            env=child_environment(settings),
            preexec_fn=background_child,
        ).start()
        _wait_for_worker(settings, worker)
        click.echo(f"syndicate: Redis    {_redacted(settings.redis_url or '')}"
                   f"{' (embedded, data in ' + str(embedded.data_dir) + ')' if embedded else ''}")
        click.echo(f"syndicate: API      http://{host}:{port}/  (status page; events: POST /events)")
        click.echo(f"syndicate: feeds    {settings.public_url}/feeds/all.rss, "
                   f"{settings.public_url}/feeds/all.atom, {settings.public_url}/feeds.opml")
        click.echo(f"syndicate: secret   {secret_line}")
        if token_created:
            click.echo(f"syndicate: login    http://{host}:{port}/login#token="
                       f"{settings.admin_token}  (shown once; the token is kept in "
                       f"{settings.data_dir / 'admin-token'})")
        elif os.environ.get("SYNDICATE_ADMIN_TOKEN"):
            click.echo(f"syndicate: login    http://{host}:{port}/login  "
                       "(token from SYNDICATE_ADMIN_TOKEN)")
        else:
            click.echo(f"syndicate: login    http://{host}:{port}/login  (token in "
                       f"{settings.data_dir / 'admin-token'})")
        click.echo(f"syndicate: sharing  {', '.join(enabled_networks(settings)) or 'off'}")
        click.echo("syndicate: Ctrl-C stops everything")
        _serve(settings, host, port)
    finally:
        if worker is not None:
            worker.stop(timeout=20)
        if embedded is not None:
            embedded.stop()
        (settings.data_dir / RUN_FILE).unlink(missing_ok=True)


def _redacted(url: str) -> str:

    parts = urlsplit(url)
    if parts.password:
        return url.replace(parts.password, "***")
    return url


def _wait_for_worker(settings: Settings, worker: Supervised, timeout: float = 90) -> None:

    rt = configure(settings)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise click.ClickException("the worker exited during start-up; see its log above")
        try:
            if rt.store.workers.live(within_s=5):
                return
        except Exception:
            pass
        time.sleep(0.1)
    raise click.ClickException("the worker did not become ready in time")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
def api(host: str, port: int) -> None:
    """The HTTP API alone (production); needs SYNDICATE_REDIS_URL and SYNDICATE_WEBHOOK_SECRET."""
    settings = _settings()
    _setup_logging(settings)
    try:
        settings.require_redis()
        settings.require_secret()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if settings.admin_token is None:
        _private_data_dir(settings.data_dir)
        settings, created = _with_admin_token(settings)
        click.echo(f"syndicate: operator token {'created and ' if created else ''}kept in "
                   f"{settings.data_dir / 'admin-token'} (or set SYNDICATE_ADMIN_TOKEN)")
    if settings.public_url is None:
        settings = settings.with_(public_url=f"http://{host}:{port}")
    click.echo(f"syndicate: API http://{host}:{port}/")
    _serve(settings, host, port)


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def worker(ctx: click.Context) -> None:
    """A Celery worker alone (production); extra options go to `celery worker`."""
    settings = _settings()
    try:
        settings.require_redis()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    cmd = _worker_command(list(ctx.args) or ["--loglevel=INFO"])
    os.execve(cmd[0], cmd, child_environment(settings))


@main.command()
@click.argument("event_file", type=click.File("rb"))
@click.option("--url", default=None,
              help="the API's base URL (default: the running `syndicate run`, else :8000)")
@click.option("--id", "event_id", default=None, help="webhook-id (default: the file's id field)")
def send(event_file, url: str, event_id: str | None) -> None:
    """Sign EVENT_FILE with SYNDICATE_WEBHOOK_SECRET (or ./var/webhook-secret) and POST it."""


    settings = _with_running_service(_settings())
    url = url or settings.public_url or "http://127.0.0.1:8000"
    secret = settings.webhook_secret
    if secret is None:
        path = settings.data_dir / "webhook-secret"
        if not path.exists():
            raise click.ClickException("no SYNDICATE_WEBHOOK_SECRET and no " + str(path))
        secret = path.read_text().strip()
    body = event_file.read()
    try:
        event_id = event_id or json.loads(body)["id"]
    except (ValueError, KeyError, TypeError):
        raise click.ClickException("the file has no id field; pass --id") from None
    now = datetime.now(UTC)
    headers = {"content-type": "application/json", "webhook-id": event_id,
               "webhook-timestamp": str(int(now.timestamp())),
               "webhook-signature": Webhook(secret).sign(event_id, now, body.decode())}
    try:
        r = requests.post(url.rstrip("/") + "/events", data=body, headers=headers, timeout=10)
    except requests.RequestException as exc:
        raise click.ClickException(f"could not reach {url}: {type(exc).__name__}") from None
    click.echo(f"{r.status_code} {r.text.strip()}")
    if r.status_code >= 300:
        raise SystemExit(1)


def _with_running_service(settings: Settings) -> Settings:
    """Fill in what a `syndicate run` on the same data directory decided, where not configured."""
    path = settings.data_dir / RUN_FILE
    if settings.redis_url is not None or not path.exists():
        return settings
    decided = json.loads(path.read_text())
    return settings.with_(redis_url=decided["redis_url"],
                          public_url=settings.public_url or decided["public_url"])


def _ops_runtime():
    """Settings and runtime for the operator commands: SYNDICATE_REDIS_URL, else the Redis of a
    `syndicate run` using the same data directory."""

    settings = _with_running_service(_settings())
    if settings.redis_url is None:
        raise click.ClickException(
            "no SYNDICATE_REDIS_URL, and no `syndicate run` is running with data in "
            f"{settings.data_dir}")
    rt = configure(settings)
    try:
        rt.store.ping()
    except Exception as exc:
        raise click.ClickException(
            f"Redis at {_redacted(settings.redis_url or '')} unreachable: {type(exc).__name__}"
        ) from None
    return rt


@main.command()
@click.argument("archive", type=click.File("r", encoding="utf-8"))
def backfill(archive) -> None:
    """Import ARCHIVE (JSON lines, one event each): no posts, each feed rendered once at the end."""

    rt = _ops_runtime()
    lines = archive.readlines()
    report = BackfillReport()
    with click.progressbar(enumerate(lines, 1), length=len(lines), label="importing",
                           show_pos=True, file=sys.stderr) as bar:
        for number, line in bar:
            backfill_line(rt, number, line, report)
    feeds = sorted(report.feeds)
    with click.progressbar(rebuild_feeds(rt, feeds), length=len(feeds), label="rendering",
                           show_pos=True, file=sys.stderr) as bar:
        changed = sum(outcome.changed for outcome in bar)
    click.echo(f"backfill: {report.applied} applied, {report.unchanged} already current, "
               f"{len(report.rejected)} rejected; {len(feeds)} feeds rendered ({changed} changed); "
               "nothing shared")
    for number, reason in report.rejected[:20]:
        click.echo(f"  line {number}: {reason}", err=True)
    if report.rejected:
        raise SystemExit(1)


@main.command()
@click.argument("article_id")
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
def purge(article_id: str, yes: bool) -> None:
    """Remove everything of ARTICLE_ID (a legal takedown), leaving an audit record.

    Its text, title, URL and events (bodies included) leave the store, it leaves every feed
    (re-rendered now), and posts of it still up are deleted where the network allows.
    """

    rt = _ops_runtime()
    if not yes:
        click.confirm(f"Remove every trace of article {article_id!r}?", abort=True)
    record = rt.store.articles.purge(article_id)
    if record is None:
        raise click.ClickException(f"no such article: {article_id}")
    for network in record["posts_to_delete"]:
        enqueue.deliver(article_id, network, "delete")
    for _ in rebuild_feeds(rt, record["feeds"]):
        pass
    click.echo(f"purged {article_id}: {record['events_removed']} events removed, "
               f"{len(record['feeds'])} feeds re-rendered, posts to delete: "
               f"{', '.join(record['posts_to_delete']) or 'none'}; audit record kept")


@main.command()
@click.option("--feed", "feed_key", default=None, help="one feed key (default: every feed)")
def rebuild(feed_key: str | None) -> None:
    """Re-render feeds from the stored articles; hubs hear of those that changed."""

    rt = _ops_runtime()
    if feed_key is not None:
        if not is_feed_key(feed_key) or not rt.store.articles.is_feed(feed_key):
            raise click.ClickException(f"no such feed: {feed_key}")
        feeds = [feed_key]
    else:
        feeds = rt.store.articles.all_feeds()
    with click.progressbar(rebuild_feeds(rt, feeds), length=len(feeds), label="rendering",
                           show_pos=True, file=sys.stderr) as bar:
        changed = sum(outcome.changed for outcome in bar)
    click.echo(f"rebuild: {len(feeds)} feeds rendered, {changed} changed")


@main.command()
@click.option("--only", default=None, help="one dead letter, e.g. event:ID or delivery:ARTICLE:NETWORK")
@click.option("--list", "list_only", is_flag=True, help="list the dead letters, replay nothing")
def replay(only: str | None, list_only: bool) -> None:
    """Retry events and deliveries that ran out of retries (a worker picks them up)."""

    rt = _ops_runtime()
    if list_only:
        letters = dead_letters(rt, limit=1000)
        for item in letters:
            click.echo(f"{item['name']}  {item.get('error', '')}")
        click.echo(f"{len(letters)} dead letters")
        return
    done = replay_all(rt, only)
    for item in done:
        click.echo(f"replayed {item['name']}")
    if only is not None and not done:
        raise click.ClickException(f"no dead letter named {only}")
    click.echo(f"replay: {len(done)} queued again")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="print the overview as JSON")
def status(as_json: bool) -> None:
    """Queue depth, live workers, recent events, channel health and dead letters."""

    data = overview(_ops_runtime())
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
        return
    click.echo("queues     " + ", ".join(f"{q} {n if n is not None else '?'}"
                                        for q, n in data["queues"].items()))
    click.echo(f"workers    {', '.join(data['workers']) or 'none alive'}")
    click.echo(f"articles   {data['articles']} in {data['feeds']} feeds "
               f"({data['feeds_to_render']} waiting to be rendered)")
    for ch in data["channels"]:
        states = ", ".join(f"{k} {v}" for k, v in sorted(ch["deliveries"].items())) or "nothing yet"
        line = f"{ch['network']:<11}{'on ' if ch['enabled'] else 'off'}  {states}"
        if ch["open"]:
            line += f"; {ch['open']} open"
        if ch["last_failure"]:
            line += f"; last failure: {ch['last_failure']['error']}"
        click.echo(line)
    click.echo(f"dead       {len(data['dead_letters'])} (syndicate replay --list)")
    click.echo("recent events:")
    for ev in data["events"][:10]:
        when = time.strftime("%H:%M:%S", time.localtime(ev["received_at"]))
        click.echo(f"  {when} {ev['status']:<10} {ev['type']:<20} {ev['article_id']} "
                   f"{ev['outcome'] or ev['error']}")


@main.command()
def check() -> None:
    """Validate the configuration and reach Redis, the broker and every configured remote."""


    settings = _with_running_service(_settings())
    click.echo("ok    configuration: every SYNDICATE_* variable is valid")
    failed = False
    for item in run_checks(configure(settings)):
        mark = "warn" if item.warning and item.ok is False else {
            True: "ok ", False: "FAIL", None: "off"}[item.ok]
        click.echo(f"{mark:<5} {item.name}: {item.detail}")
        failed = failed or (item.ok is False and not item.warning)
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
