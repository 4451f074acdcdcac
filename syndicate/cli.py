"""The `syndicate` command: run (everything), api, worker; send, backfill, rebuild, replay,
status and check for operators.

User mistakes end in one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import secrets
import socket
import subprocess
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
from api.server import serve, serve_processes
from feeds.membership import is_feed_key
from syndicate import __version__
from syndicate.config import ConfigError, Settings, child_environment
from syndicate.connections import with_password
from syndicate.embedded_redis import EmbeddedRedis
from syndicate.logs import setup
from syndicate.process import Supervised, background_child
from worker import enqueue, rendering, takedown
from worker.ops import BackfillReport, backfill_line, dead_letters, effective_config, overview
from worker.ops import check as run_checks
from worker.ops import replay as replay_all
from worker.runtime import configure
from worker.social import REGISTRY, enabled_networks, network_settings
from worker.store.takedowns import ENDED

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


def _serve(settings: Settings, host: str, port: int, listener: socket.socket | None = None) -> None:
    serve(create_app(settings), settings, host, port, listener)


def _worker_command(extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "worker", "worker", *extra]


@click.group(epilog="""\b
Examples:
  syndicate run                      # everything, on an embedded Redis in ./var
  syndicate send event.json          # sign and POST one CMS event
  syndicate status                   # queues, workers, channels, dead letters
  syndicate check                    # prove Redis, the broker, each network and hub work
  syndicate init > .env              # a .env with fresh secrets and every setting

\b
Reads SYNDICATE_* variables (README "Configuration"): SYNDICATE_REDIS_URL,
SYNDICATE_BROKER_URL, SYNDICATE_DATA_DIR, SYNDICATE_WEBHOOK_SECRET, SYNDICATE_ADMIN_TOKEN,
SYNDICATE_PUBLIC_URL, SYNDICATE_SITE_*, SYNDICATE_FEED_SIZE, SYNDICATE_WEBSUB_HUBS, and each
network's (SYNDICATE_TWITTER_*, SYNDICATE_FACEBOOK_*, SYNDICATE_GOOGLEPLUS_*).""")
@click.version_option(__version__, prog_name="syndicate")
@click.option("--log-json", is_flag=True, help="log JSON lines (with event and article ids)")
def main(log_json: bool) -> None:
    """syndicate: CMS events in; RSS, Atom, JSON feeds, WebSub pings and social posts out."""
    _options["log_json"] = log_json


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--concurrency", default=2, show_default=True, type=click.IntRange(1, 64),
              help="worker processes")
def run(host: str, port: int, concurrency: int) -> None:
    """Everything on one machine: embedded Redis (unless SYNDICATE_REDIS_URL), API and worker.

    \b
    One service per data directory: a second `run` on the same one says where the first is
    and exits 1. The worker's and Redis's own output goes to DATA_DIR/worker.log and
    DATA_DIR/redis/redis.log; this terminal gets one line per fact.
    """
    settings = _settings()
    _setup_logging(settings)
    _private_data_dir(settings.data_dir)
    lock = _lock_data_dir(settings.data_dir)  # before anything else: a second run touches nothing
    listener = _bind(host, port)  # every bind is checked before anything starts
    embedded = None
    worker = None
    worker_log = None
    try:
        if settings.redis_url is None:
            # A unix socket in the owner-only data dir, with a password; started again if it
            # exits (syndicate/embedded_redis.py).
            embedded = EmbeddedRedis(settings.data_dir / "redis")
            try:
                settings = settings.with_(redis_url=embedded.start(supervise=True))
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
        # So `syndicate status|rebuild|backfill|replay|check` in another terminal find this
        # service, and see its configuration rather than their own shell's.
        # The embedded Redis's password stays in its own file: the run file names it.
        decided = {"redis_url": settings.redis_url, "public_url": settings.public_url,
                   "pid": os.getpid()}
        if embedded is not None:
            decided.update(redis_url=embedded.public_url,
                           redis_password_file=str(embedded.password_file))
        (settings.data_dir / RUN_FILE).write_text(json.dumps(decided))
        rt = configure(settings)
        rt.store.workers.publish_config(effective_config(settings))
        worker_log = open(settings.data_dir / "worker.log", "ab")
        worker = Supervised(
            _worker_command(["--loglevel=INFO", f"--concurrency={concurrency}",
                             "--hostname=syndicate-run@%h", "--without-gossip", "--without-mingle"]),
            env=child_environment(settings), stdout=worker_log, stderr=subprocess.STDOUT,
            preexec_fn=background_child,
        ).start()
        _wait_for_worker(settings, worker)
        click.echo(f"syndicate: Redis    "
                   f"{embedded.public_url if embedded else _redacted(settings.redis_url or '')}"
                   f"{' (embedded, data in ' + str(embedded.data_dir) + ')' if embedded else ''}")
        click.echo(f"syndicate: API      http://{host}:{port}/  (status page; events: POST /events)")
        click.echo(f"syndicate: feeds    {settings.public_url}/feeds/ (all.rss, all.atom, "
                   f"all.json; feeds.opml)")
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
        click.echo(f"syndicate: logs     {settings.data_dir / 'worker.log'}")
        click.echo("syndicate: Ctrl-C stops everything")
        _serve(settings, host, port, listener)
    finally:
        if worker is not None:
            worker.stop(timeout=20)
        if embedded is not None:
            embedded.stop()
        if worker_log is not None:
            worker_log.close()
        (settings.data_dir / RUN_FILE).unlink(missing_ok=True)  # ours: we hold the lock
        lock.close()


def _lock_data_dir(data_dir: Path):
    """An exclusive lock on DATA_DIR/run.lock for as long as this `run` lives; a second `run`
    says where the first one is and exits 1 without touching anything."""
    handle = open(data_dir / "run.lock", "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        where = ""
        try:
            decided = json.loads((data_dir / RUN_FILE).read_text())
            where = f" (pid {decided.get('pid')}, {decided.get('public_url')})"
        except (OSError, ValueError):
            pass
        raise click.ClickException(f"already running{where} with data in {data_dir}; stop it "
                                   "or use another SYNDICATE_DATA_DIR") from None
    return handle


def _bind(host: str, port: int) -> socket.socket:
    """The API's socket, bound now so a port in use is one line and exit 1. It listens only
    when the server starts (uvicorn calls listen), so nobody connects to a half-started run."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}; pass "
                                   "--port or stop what uses it") from None
    return sock


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
@click.option("--processes", default=1, show_default=True, type=click.IntRange(1, 64),
              help="server processes sharing the port (one per core for more intake)")
def api(host: str, port: int, processes: int) -> None:
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
    listener = _bind(host, port)
    click.echo(f"syndicate: API http://{host}:{port}/"
               + (f" ({processes} processes)" if processes > 1 else ""))
    if processes == 1:
        _serve(settings, host, port, listener)
        return
    code = serve_processes(lambda: create_app(settings), settings, host, port, listener, processes)
    if code:
        raise SystemExit(code)


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
    """Sign EVENT_FILE with SYNDICATE_WEBHOOK_SECRET (or DATA_DIR/webhook-secret) and POST it.

    \b
    Example:
      syndicate send tests/fixtures/events/seed-article-published.json
      syndicate send event.json --url https://feeds.example.org --id evt-123
    """
    settings = _with_running_service(_settings())
    url = url or settings.public_url or "http://127.0.0.1:8000"
    secret = settings.webhook_secret
    if secret is None:
        path = settings.data_dir / "webhook-secret"
        if not path.exists():
            raise click.ClickException(
                f"no webhook secret: set SYNDICATE_WEBHOOK_SECRET, or run this where `syndicate "
                f"run` keeps its data ({path} does not exist)")
        secret = path.read_text().strip()
    body = event_file.read()
    try:
        text = body.decode("utf-8")
        payload = json.loads(text)
    except UnicodeDecodeError:
        raise click.ClickException(f"{event_file.name} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise click.ClickException(f"{event_file.name} is not valid JSON: {exc.msg} at line "
                                   f"{exc.lineno}, column {exc.colno}") from None
    event_id = event_id or (payload.get("id") if isinstance(payload, dict) else None)
    if not isinstance(event_id, str) or not event_id:
        raise click.ClickException(f"{event_file.name} has no \"id\" field: add one, or pass "
                                   "--id EVENT_ID") from None
    now = datetime.now(UTC)
    headers = {"content-type": "application/json", "webhook-id": event_id,
               "webhook-timestamp": str(int(now.timestamp())),
               "webhook-signature": Webhook(secret).sign(event_id, now, text)}
    try:
        r = requests.post(url.rstrip("/") + "/events", data=body, headers=headers, timeout=10)
    except requests.RequestException:
        raise click.ClickException(f"no service at {url}: is `syndicate run` running? (or pass "
                                   "--url)") from None
    if r.status_code == 401:
        raise click.ClickException(
            "the signature does not match the service's secret: check that "
            "SYNDICATE_WEBHOOK_SECRET here is the service's (or unset it to use "
            f"{settings.data_dir / 'webhook-secret'})")
    click.echo(f"{r.status_code} {r.text.strip()}")
    if r.status_code == 422:
        errors = r.json().get("errors", [])
        for error in errors[:10]:
            click.echo(f"  {error['field']}: {error['message']}", err=True)
    if r.status_code >= 300:
        raise SystemExit(1)


def _with_running_service(settings: Settings) -> Settings:
    """Fill in what a `syndicate run` on the same data directory decided, where not configured."""
    path = settings.data_dir / RUN_FILE
    if settings.redis_url is not None or not path.exists():
        return settings
    decided = json.loads(path.read_text())
    if decided.get("redis_password_file"):  # the embedded Redis's (see `run`)
        decided["redis_url"] = with_password(
            decided["redis_url"], Path(decided["redis_password_file"]).read_text().strip())
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
    _renderers_running(rt)  # before anything is imported: a refused command changes nothing
    lines = archive.readlines()
    report = BackfillReport()
    with click.progressbar(enumerate(lines, 1), length=len(lines), label="importing",
                           show_pos=True, file=sys.stderr) as bar:
        for number, line in bar:
            backfill_line(rt, number, line, report)
    feeds = sorted(report.feeds)
    changed = _render_by_workers(rt, feeds)
    click.echo(f"backfill: {report.applied} applied, {report.unchanged} already current, "
               f"{len(report.rejected)} rejected; {len(feeds)} feeds rendered ({changed} changed); "
               "nothing shared")
    for number, reason in report.rejected[:20]:
        click.echo(f"  line {number}: {reason}", err=True)
    if report.rejected:
        raise SystemExit(1)


def _renderers_running(rt) -> None:
    if not rt.store.workers.live_renderers():
        raise click.ClickException("no worker is running: start the service (`syndicate run`, "
                                   "or `syndicate worker`) and try again; nothing was changed")


def _render_by_workers(rt, feeds: list[str]) -> int:
    """Have the service's renderers render these feeds (with the service's configuration, not
    this shell's), showing progress; returns how many changed. A feed whose render failed is
    named; the command then exits 1."""
    before = {key: rt.store.feeds.etags(key, ["atom"])[0] for key in feeds}
    failed: list[tuple[str, str]] = []
    try:
        with click.progressbar(rendering.by_workers(rt, feeds), length=len(feeds),
                               label="rendering", show_pos=True, file=sys.stderr) as bar:
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


@main.command()
@click.argument("path", default=".env", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="overwrite an existing file")
def init(path: Path, force: bool) -> None:
    """Write PATH (.env) with fresh secrets and every setting, commented (for compose's
    `env_file`, or `set -a; . ./.env; set +a`). `-` prints it instead."""
    text = env_template()
    if str(path) == "-":
        click.echo(text, nl=False)
        return
    if path.exists() and not force:
        raise click.ClickException(f"{path} exists: pass --force to replace it")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    click.echo(f"wrote {path} (owner-only): fresh SYNDICATE_WEBHOOK_SECRET and "
               "SYNDICATE_ADMIN_TOKEN; fill in SYNDICATE_PUBLIC_URL and the networks you use")


def env_template() -> str:
    """Every setting with its default and meaning, secrets freshly made."""
    lines = ["# syndicate settings (README \"Configuration\"). Uncomment what you change.", ""]
    fresh = {"SYNDICATE_WEBHOOK_SECRET": "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
             "SYNDICATE_ADMIN_TOKEN": secrets.token_urlsafe(32),
             "FLOWER_BASIC_AUTH": "admin:" + secrets.token_urlsafe(18)}
    for name, value in fresh.items():
        lines.append(f"{name}={value}")
    lines += ["SYNDICATE_PUBLIC_URL=https://feeds.example.org", ""]
    models = [("service", Settings)] + [(name, cls.settings_class)
                                        for name, cls in REGISTRY.items()]
    for title, model in models:
        lines.append(f"# {title}")
        for field in model.model_fields.values():
            alias = field.validation_alias
            if not isinstance(alias, str) or alias in fresh or alias == "SYNDICATE_PUBLIC_URL":
                continue
            default = field.default
            shown = "" if default in (None, (), False) else (
                ",".join(default) if isinstance(default, tuple) else str(default))
            if isinstance(default, bool) and default:
                shown = "1"
            elif isinstance(default, float) and default.is_integer():
                shown = str(int(default))
            lines.append(f"# {alias}={shown}")
        lines.append("")
    return "\n".join(lines)


@main.command()
@click.argument("article_id")
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
@click.option("--wait", default=180, show_default=True, type=click.IntRange(0, 3600),
              help="seconds to wait for the takedown to finish (0: queue it and return)")
def purge(article_id: str, yes: bool, wait: int) -> None:
    """Take ARTICLE_ID down for good (a legal takedown), leaving an audit record.

    \b
    The service's workers carry it out with the service's own configuration: its text, title,
    URL, events and the words kept for networks leave Redis; it leaves every feed it was ever
    in (re-rendered, exported, hubs told), a feed it leaves empty is removed (bytes and files),
    posts of it are deleted where the network allows (the others are named), Redis's
    append-only file is rewritten, and every copy is checked. No later event brings it back
    until `syndicate unpurge`. Exits 0 only when every check passed.
    """

    rt = _ops_runtime()
    state = rt.store.articles.state(article_id)
    if state is None:
        raise click.ClickException(f"no such article: {article_id}")
    if not yes:
        click.confirm(f"Remove every trace of article {article_id!r}?", abort=True)
    rt.store.takedowns.request(article_id)
    enqueue.takedown(article_id)
    if not rt.store.workers.live():
        click.echo("takedown queued: no worker is running; it is carried out when one starts "
                   f"(`syndicate purge {article_id}` again shows nothing new, "
                   "`syndicate status` shows the workers)", err=True)
        raise SystemExit(1)
    deadline = time.monotonic() + wait
    record = rt.store.takedowns.get(article_id)
    while record.get("state") not in ENDED and time.monotonic() < deadline:
        time.sleep(0.2)
        record = rt.store.takedowns.get(article_id)
    for line in takedown.summary(record):
        click.echo(f"  {line}")
    if record.get("state") == "done":
        click.echo(f"purged {article_id}: every copy checked; audit record kept")
        return
    if record.get("state") not in ENDED:
        click.echo(f"takedown of {article_id} still under way: see `syndicate status`", err=True)
    else:
        click.echo(f"takedown of {article_id} incomplete: see the lines above", err=True)
    raise SystemExit(1)


@main.command()
@click.argument("article_id")
@click.option("--reason", required=True, help="why (kept in the audit record)")
def unpurge(article_id: str, reason: str) -> None:
    """Let the CMS publish a purged article again: its next event applies (it is not shared
    again). Audited."""

    rt = _ops_runtime()
    if not rt.store.articles.unpurge(article_id, reason[:500]):
        raise click.ClickException(f"{article_id} is not purged")
    click.echo(f"unpurged {article_id}: the CMS's next event for it applies; audit record kept")


@main.command()
@click.option("--feed", "feed_key", default=None, help="one feed key (default: every feed)")
def rebuild(feed_key: str | None) -> None:
    """Have the service's renderers render feeds again from the stored articles (with the
    service's configuration); hubs hear of those that changed."""

    rt = _ops_runtime()
    if feed_key is not None:
        if not is_feed_key(feed_key) or not rt.store.articles.is_feed(feed_key):
            raise click.ClickException(f"no such feed: {feed_key}")
        feeds = [feed_key]
    else:
        feeds = rt.store.articles.all_feeds()
    changed = _render_by_workers(rt, feeds)
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
    click.echo(f"renderers  {len(data['renderers']) or 'none alive'}")
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
