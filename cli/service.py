"""Commands that run the service: `run` (everything on one machine, embedded Redis included),
`api` and `worker`."""

from __future__ import annotations

import base64
import fcntl
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import click

from api.app import create_app
from api.server import serve, serve_processes
from cli.common import (
    RUN_FILE,
    redacted,
    settings_or_exit,
    setup_logging,
)
from cli.group import main
from syndicate.config import ConfigError, Settings, child_environment
from syndicate.embedded_redis import EmbeddedRedis
from syndicate.logs import JsonFormatter, PlainFormatter, RedactSecrets
from syndicate.process import Supervised, background_child
from worker.ops import effective_config
from worker.runtime import configure
from worker.social import enabled_networks


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
    token, created = _kept_secret(
        settings.data_dir / "admin-token", lambda: secrets.token_urlsafe(32)
    )
    return settings.with_(admin_token=token), created


def _serve(settings: Settings, host: str, port: int, listener: socket.socket | None = None) -> None:
    serve(create_app(settings), settings, host, port, listener)


def _worker_command(extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "worker.main", "worker", *extra]


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--concurrency",
    default=2,
    show_default=True,
    type=click.IntRange(1, 64),
    help="worker processes",
)
@click.option(
    "--access-log",
    "access_to_terminal",
    is_flag=True,
    help="one line per request in this terminal too (default: DATA_DIR/access.log)",
)
def run(host: str, port: int, concurrency: int, access_to_terminal: bool) -> None:
    """Everything on one machine: embedded Redis (unless SYNDICATE_REDIS_URL), API and worker.

    \b
    One service per data directory: a second `run` on the same one says where the first is
    and exits 1. The worker's and Redis's own output goes to DATA_DIR/worker.log and
    DATA_DIR/redis/redis.log, the API's access log to DATA_DIR/access.log; this terminal gets
    one line per fact. Closing the terminal (SIGHUP) stops it as Ctrl-C does.
    """
    settings = settings_or_exit()
    setup_logging(settings)
    fresh = (
        not (settings.data_dir / "webhook-secret").exists()
        and not (settings.data_dir / "redis").exists()
    )
    lock, access = _take_data_dir(settings, access_to_terminal)
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
        base = f"http://{host}:{port}"
        settings, secret_line, login_line = _with_secrets_and_url(settings, base)
        _write_run_file(settings, embedded)
        rt = configure(settings)
        rt.store.workers.publish_config(effective_config(settings))
        worker_log = open(settings.data_dir / "worker.log", "ab")
        worker = _start_worker(settings, concurrency, worker_log)
        _wait_for_worker(settings, worker)
        _banner(settings, base, embedded, secret_line, login_line, fresh)
        _serve(settings, host, port, listener)
    finally:
        if access is not None:
            access.close()
        if worker is not None:
            worker.stop(timeout=20)
        if embedded is not None:
            embedded.stop()
        if worker_log is not None:
            worker_log.close()
        (settings.data_dir / RUN_FILE).unlink(missing_ok=True)  # ours: we hold the lock
        lock.close()


def _with_secrets_and_url(settings: Settings, base: str) -> tuple[Settings, str, str]:
    """The settings with what `run` decides when they leave it open (the webhook secret and the
    operator token, kept in the data dir; the public URL, this API's), and the banner's `secret`
    and `login` lines."""
    settings, secret_line = _with_webhook_secret(settings)
    token_from_env = settings.admin_token is not None
    settings, token_created = _with_admin_token(settings)
    if settings.public_url is None:
        settings = settings.with_(public_url=base)
    return settings, secret_line, _login_line(settings, base, token_created, token_from_env)


def _start_worker(settings: Settings, concurrency: int, log: IO[bytes]) -> Supervised:
    """The Celery worker (its renderer with it) in the background, started again should it exit;
    its output to `log`."""
    return Supervised(
        _worker_command(
            [
                "--loglevel=INFO",
                f"--concurrency={concurrency}",
                "--hostname=syndicate-run@%h",
                "--without-gossip",
                "--without-mingle",
            ]
        ),
        env=child_environment(settings),
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=background_child,
    ).start()


def _take_data_dir(
    settings: Settings, access_to_terminal: bool
) -> tuple[Any, logging.Handler | None]:
    """The data dir, owner-only and locked (before anything else: a second run touches
    nothing); SIGHUP (the terminal closing) made a SIGTERM, so everything stops in order
    (uvicorn's handler); the access log to its file unless asked for here."""
    _private_data_dir(settings.data_dir)
    lock = _lock_data_dir(settings.data_dir)
    signal.signal(signal.SIGHUP, lambda signum, frame: os.kill(os.getpid(), signal.SIGTERM))
    to_file = settings.access_log and not access_to_terminal
    return lock, _access_log_to_file(settings) if to_file else None


def _login_line(settings: Settings, base: str, created: bool, from_env: bool) -> str:
    token_file = settings.data_dir.resolve() / "admin-token"
    if created:
        return (
            f"{base}/login#token={settings.admin_token}  (shown once; the token is kept in "
            f"{token_file})"
        )
    if from_env:
        return f"{base}/login  (token from SYNDICATE_ADMIN_TOKEN)"
    return f"{base}/login  (token in {token_file})"


def _with_webhook_secret(settings: Settings) -> tuple[Settings, str]:
    """The webhook secret: configured, or made once and kept in DATA_DIR/webhook-secret. A
    secret is printed only the one time it is made; after that it stays in its file."""
    if settings.webhook_secret is not None:
        return settings, "from SYNDICATE_WEBHOOK_SECRET"
    path = settings.data_dir / "webhook-secret"
    secret, created = _kept_secret(
        path, lambda: "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    )
    line = f"{secret} (created, kept in {path})" if created else f"kept in {path}"
    return settings.with_(webhook_secret=secret), line


def _write_run_file(settings: Settings, embedded: EmbeddedRedis | None) -> None:
    """So `syndicate status|rebuild|backfill|replay|check` in another terminal find this
    service, and see its configuration rather than their own shell's. The embedded Redis's
    password stays in its own file: the run file names it."""
    decided = {
        "redis_url": settings.redis_url,
        "public_url": settings.public_url,
        "pid": os.getpid(),
    }
    if embedded is not None:
        decided.update(
            redis_url=embedded.public_url, redis_password_file=str(embedded.password_file)
        )
    (settings.data_dir / RUN_FILE).write_text(json.dumps(decided))


def _access_log_to_file(settings: Settings) -> logging.Handler:
    """The API's access log (a line per request) to DATA_DIR/access.log, not this terminal, so
    the start-up lines (the one-time login link) stay on screen."""
    handler = logging.FileHandler(settings.data_dir / "access.log", encoding="utf-8")
    handler.setFormatter(JsonFormatter() if settings.log_json else PlainFormatter())
    handler.addFilter(RedactSecrets())
    access = logging.getLogger("syndicate.access")
    access.handlers[:] = [handler]
    access.propagate = False
    return handler


def _banner(
    settings: Settings,
    base: str,
    embedded: EmbeddedRedis | None,
    secret_line: str,
    login: str,
    fresh: bool,
) -> None:
    """One line per fact: what runs where, and how to reach it."""
    redis_line = (
        f"{embedded.public_url} (embedded)" if embedded else redacted(settings.redis_url or "")
    )
    data = str(settings.data_dir.resolve()) + (
        "  (new and empty: SYNDICATE_DATA_DIR, or run from another directory, to use an "
        "existing one)"
        if fresh
        else ""
    )
    for name, value in (
        ("data", data),
        ("Redis", redis_line),
        ("API", f"{base}/  (status page; events: POST /events)"),
        ("feeds", f"{settings.public_url}/feeds/ (all.rss, all.atom, all.json; feeds.opml)"),
        ("secret", secret_line),
        ("login", login),
        ("sharing", ", ".join(enabled_networks(settings)) or "off"),
        ("logs", f"{settings.data_dir.resolve() / 'worker.log'}, access.log beside it"),
    ):
        click.echo(f"syndicate: {name:<8} {value}")
    click.echo("syndicate: Ctrl-C stops everything")


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
        raise click.ClickException(
            f"already running{where} with data in {data_dir}; stop it "
            "or use another SYNDICATE_DATA_DIR"
        ) from None
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
        raise click.ClickException(
            f"cannot listen on {host}:{port}: {exc.strerror}; pass --port or stop what uses it"
        ) from None
    return sock


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
@click.option(
    "--processes",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="server processes sharing the port (one per core for more intake)",
)
def api(host: str, port: int, processes: int) -> None:
    """The HTTP API alone (production); needs SYNDICATE_REDIS_URL and SYNDICATE_WEBHOOK_SECRET."""
    settings = settings_or_exit()
    setup_logging(settings)
    try:
        settings.require_redis()
        settings.require_secret()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if settings.admin_token is None:
        _private_data_dir(settings.data_dir)
        settings, created = _with_admin_token(settings)
        click.echo(
            f"syndicate: operator token {'created and ' if created else ''}kept in "
            f"{settings.data_dir / 'admin-token'} (or set SYNDICATE_ADMIN_TOKEN)"
        )
    if settings.public_url is None:
        settings = settings.with_(public_url=f"http://{host}:{port}")
    listener = _bind(host, port)
    click.echo(
        f"syndicate: API http://{host}:{port}/"
        + (f" ({processes} processes)" if processes > 1 else "")
    )
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
    settings = settings_or_exit()
    try:
        settings.require_redis()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    cmd = _worker_command(list(ctx.args) or ["--loglevel=INFO"])
    os.execve(cmd[0], cmd, child_environment(settings))
