"""The `syndicate` command: run (everything), api, worker.

User mistakes end in one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import click

from syndicate.config import ConfigError, Settings, child_environment
from syndicate.process import die_with_parent, stop


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")


def _secret_from_data_dir(data_dir: Path) -> str:
    """The secret `run` uses when none is configured: created once, kept in the data dir."""
    path = data_dir / "webhook-secret"
    if path.exists():
        return path.read_text().strip()
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")
    return secret


def _serve(settings: Settings, host: str, port: int) -> None:
    import signal

    import uvicorn

    from api.app import create_app

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: object) -> None:
            # uvicorn re-raises a caught SIGTERM after shutdown, which would kill this process
            # before `run` stops its worker and Redis in order; just stop serving instead.
            if self.should_exit and sig == signal.SIGINT:
                self.force_exit = True
            self.should_exit = True

    app = create_app(settings)
    Server(
        uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                       lifespan="off", timeout_keep_alive=5)
    ).run()


def _worker_command(extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "worker", "worker", *extra]


@click.group()
def main() -> None:
    """syndicate: CMS events in; RSS, Atom, WebSub pings and social posts out."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--concurrency", default=2, show_default=True, type=click.IntRange(1, 64),
              help="worker processes")
def run(host: str, port: int, concurrency: int) -> None:
    """Everything on one machine: embedded Redis (unless SYNDICATE_REDIS_URL), API and worker."""
    from syndicate.embedded_redis import EmbeddedRedis

    _setup_logging()
    settings = _settings()
    embedded = None
    worker = None
    try:
        if settings.redis_url is None:
            embedded = EmbeddedRedis(settings.data_dir / "redis")
            try:
                settings = settings.with_(redis_url=embedded.start())
            except (RuntimeError, OSError) as exc:
                raise click.ClickException(f"could not start the embedded Redis: {exc}") from None
        secret_note = ""
        if settings.webhook_secret is None:
            settings = settings.with_(webhook_secret=_secret_from_data_dir(settings.data_dir))
            secret_note = f" (created, kept in {settings.data_dir / 'webhook-secret'})"
        if settings.public_url is None:
            settings = settings.with_(public_url=f"http://{host}:{port}")
        worker = subprocess.Popen(
            _worker_command(["--loglevel=INFO", f"--concurrency={concurrency}",
                             "--hostname=syndicate-run@%h", "--without-gossip", "--without-mingle"]),
            env=child_environment(settings),
            preexec_fn=die_with_parent,
        )
        _wait_for_worker(settings, worker)
        click.echo(f"syndicate: Redis    {_redacted(settings.redis_url or '')}"
                   f"{' (embedded, data in ' + str(embedded.data_dir) + ')' if embedded else ''}")
        click.echo(f"syndicate: API      http://{host}:{port}/  (events: POST /events)")
        click.echo(f"syndicate: feeds    {settings.public_url}/feeds/all.rss, "
                   f"{settings.public_url}/feeds/all.atom, {settings.public_url}/feeds.opml")
        click.echo(f"syndicate: secret   {settings.webhook_secret}{secret_note}")
        click.echo(f"syndicate: sharing  {', '.join(settings.enabled_networks) or 'off'}")
        click.echo("syndicate: Ctrl-C stops everything")
        _serve(settings, host, port)
    finally:
        stop(worker, timeout=20)
        if embedded is not None:
            embedded.stop()


def _redacted(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password:
        return url.replace(parts.password, "***")
    return url


def _wait_for_worker(settings: Settings, worker: subprocess.Popen, timeout: float = 90) -> None:
    from worker.runtime import configure

    rt = configure(settings)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise click.ClickException("the worker exited during start-up; see its log above")
        try:
            if rt.store.live_workers(within_s=5):
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
    _setup_logging()
    settings = _settings()
    try:
        settings.require_redis()
        settings.require_secret()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
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
@click.option("--url", default="http://127.0.0.1:8000", show_default=True, help="the API's base URL")
@click.option("--id", "event_id", default=None, help="webhook-id (default: the file's id field)")
def send(event_file, url: str, event_id: str | None) -> None:
    """Sign EVENT_FILE with SYNDICATE_WEBHOOK_SECRET (or ./var/webhook-secret) and POST it."""
    import json
    from datetime import datetime, timezone

    import requests
    from standardwebhooks.webhooks import Webhook

    settings = _settings()
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
    now = datetime.now(timezone.utc)
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


if __name__ == "__main__":
    main()
