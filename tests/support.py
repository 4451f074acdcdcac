"""What the tests share: constants, fixtures' helpers, the real processes they start and the
helpers that drive the service. Fixtures themselves are in conftest.py."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import feedparser
import redis
import requests
from standardwebhooks.webhooks import Webhook
from starlette.testclient import TestClient

from syndicate.config import Settings, child_environment
from syndicate.process import die_with_parent, free_port, stop
from worker.store import keys

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT.parent / "shared" / "fixtures" / "events"
if not FIXTURES.exists():  # a checkout without ../shared: use the copy kept in the repo
    FIXTURES = ROOT / "tests" / "fixtures" / "events"
SECRET = "whsec_" + base64.b64encode(b"test-secret-0123456789abcdefghij").decode()
ADMIN_TOKEN = "test-operator-token-0123456789-abcdef"
OPERATOR = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
PUBLIC_URL = "http://feeds.test"


def load_fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def wait_for(predicate: Callable[[], Any], timeout: float = 15, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def signed_headers(
    event_id: str,
    body: bytes,
    secret: str = SECRET,
    ts: float | None = None,
    content_type: str = "application/json",
) -> dict[str, str]:
    when = datetime.fromtimestamp(time.time() if ts is None else ts, tz=UTC)
    sig = Webhook(secret).sign(event_id, when, body.decode())
    return {
        "content-type": content_type,
        "webhook-id": event_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": sig,
    }


class WorkerProcess:
    """A real `celery -A worker.main worker` subprocess that tests may kill and restart."""

    def __init__(self, settings: Settings, env: dict[str, str], log_path: Path) -> None:
        self.settings = settings
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def start(self, concurrency: int = 2) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATE_")}
        env.update(self.env)
        r = redis.Redis.from_url(self.settings.redis_url or "")
        r.delete(keys.WORKERS)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "worker.main",
                "worker",
                "--loglevel=INFO",
                f"--concurrency={concurrency}",
                "--without-gossip",
                "--without-mingle",
                f"--hostname=test-{time.monotonic_ns()}@%h",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            preexec_fn=die_with_parent,
        )
        wait_for(lambda: r.zcard(keys.WORKERS) > 0, timeout=60, what="worker start")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        stop(self.proc)


class Service:
    def __init__(self, client: TestClient, r: redis.Redis, anonymous: TestClient) -> None:
        self.client = client
        self.redis = r
        self.anonymous = anonymous

    def send(self, payload: dict | bytes, event_id: str | None = None, **kw: Any):
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        if event_id is None:
            event_id = json.loads(body)["id"]
        return self.client.post(
            "/events", content=body, headers=signed_headers(event_id, body, **kw)
        )

    def event_done(self, event_id: str, timeout: float = 15) -> dict:
        def done() -> dict | None:
            r = self.client.get(f"/events/{event_id}")
            return (
                r.json()
                if r.status_code == 200 and r.json()["status"] in ("done", "failed")
                else None
            )

        return wait_for(done, timeout, what=f"event {event_id}")

    def settle(self, timeout: float = 15) -> None:
        """Wait until no render is pending: every changed feed rendered."""
        wait_for(
            lambda: (
                self.redis.scard(keys.DIRTY) == 0
                and not any(self.redis.scan_iter(keys.render_lock_key("*")))
            ),
            timeout,
            what="renders to settle",
        )

    def idle(self, timeout: float = 20) -> None:
        """Wait until the service has nothing left to do: no message queued or held, no feed to
        render, no delivery open, nothing scheduled within the next 5 s; twice in a row. After
        this, "nothing more happened" is a fact, not a guess after a sleep."""

        def quiet() -> bool:
            pipe = self.redis.pipeline()
            for queue in ("events", "deliveries", "pings"):
                pipe.llen(queue)
            pipe.hlen("unacked")
            pipe.scard(keys.DIRTY)
            pipe.zcard(keys.OPEN)
            pipe.zcount(keys.SCHEDULE, "-inf", time.time() + 5)
            return not any(pipe.execute()) and not any(
                self.redis.scan_iter(keys.render_lock_key("*"))
            )

        wait_for(lambda: quiet() and (time.sleep(0.2) or quiet()), timeout, what="the service idle")

    def rerender(self, key: str, timeout: float = 15) -> None:
        """Ask the renderers for one more render of `key` and wait until it is done."""

        def renders() -> int:
            return int(self.redis.hget(keys.meta_key(key), "renders") or 0)

        before = renders()
        self.redis.sadd(keys.DIRTY, key)
        wait_for(lambda: renders() > before, timeout, what=f"a render of {key}")
        self.settle(timeout)

    def feed(self, key: str, fmt: str = "atom"):
        return self.client.get(f"/feeds/{key}.{fmt}")


def run_cli(
    settings_env: dict[str, str],
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess:
    """The real `syndicate` command with the session's settings (plus `env`), output captured."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATE_")}
    full.update(settings_env)
    full.update(env or {})
    full = {k: v for k, v in full.items() if v is not None}
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        env=full,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@contextlib.contextmanager
def api_process(
    settings: Settings,
    extra_env: dict[str, str] | None = None,
    log_path: Path | None = None,
    cli_args: tuple[str, ...] = (),
):
    # Only the settings the API needs; the broker override in extra_env is the point of most uses.
    """The real `syndicate api` command on a free port; yields its base URL."""
    port = free_port()
    env = {**child_environment(settings), **(extra_env or {})}
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", *cli_args, "api", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=log,
        preexec_fn=die_with_parent,
    )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return requests.get(base + "/healthz", timeout=1).status_code == 200
        except requests.ConnectionError:
            return proc.poll() is not None and (_ for _ in ()).throw(AssertionError("api exited"))

    try:
        wait_for(up, timeout=30, what="syndicate api")
        yield base
    finally:
        stop(proc)
        if log_path:
            log.close()


def parsed(service, key: str, fmt: str):
    r = service.feed(key, fmt)
    assert r.status_code == 200, (key, fmt, r.status_code)
    feed = feedparser.parse(r.content)
    assert feed.bozo == 0, (key, fmt, feed.get("bozo_exception"))
    return feed


def publish(service, name: str) -> dict:
    event = load_fixture(name)
    assert service.send(event).status_code == 202
    assert service.event_done(event["id"])["status"] == "done"
    service.settle()
    return event


SEED_ID = "20230713-0001"


def shares(service, article_id: str = SEED_ID) -> dict:
    r = service.client.get(f"/articles/{article_id}")
    return r.json()["shares"] if r.status_code == 200 else {}


def wait_states(service, expected: dict[str, str], article_id: str = SEED_ID, timeout: float = 20):
    def ok():
        current = shares(service, article_id)
        got = {n: current.get(n, {}).get("state") for n in expected}
        return current if got == expected else None

    return wait_for(ok, timeout, what=f"share states {expected}")


def send(service, name: str, mutate=None) -> dict:
    event = load_fixture(name)
    if mutate:
        mutate(event)
    assert service.send(event).status_code == 202
    service.event_done(event["id"])
    return event


class Run:
    """`syndicate run` on a data dir of its own, output captured."""

    def __init__(
        self, tmp: Path, extra: dict[str, str] | None = None, port: int | None = None
    ) -> None:
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.data = tmp / "data"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATE_")}
        self.env.update(
            SYNDICATE_DATA_DIR=str(self.data),
            SYNDICATE_WEBHOOK_SECRET=SECRET,
            SYNDICATE_ADMIN_TOKEN=ADMIN_TOKEN,
            **(extra or {}),
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cli", "run", "--port", str(self.port)],
            env=self.env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def wait_up(self) -> None:
        def up() -> bool:
            assert self.proc.poll() is None, self.proc.communicate()
            try:
                return requests.get(self.base + "/readyz", timeout=5).status_code == 200
            except requests.RequestException:
                return False

        wait_for(up, 90, "syndicate run")

    def stop(self) -> tuple[str, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.communicate(timeout=40)

    def cli(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "cli", *args],
            env={**self.env, **(env or {})},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )


def post_event(base: str, event: dict, retry_for: float = 0) -> int:
    """POST a signed event to a real API like a CMS: refused (503) or unanswered, it tries again
    until `retry_for` seconds are over. The last status (0: no answer)."""
    body = json.dumps(event).encode()
    deadline = time.monotonic() + retry_for
    while True:
        try:
            status = requests.post(
                base + "/events", data=body, timeout=5, headers=signed_headers(event["id"], body)
            ).status_code
        except requests.RequestException:
            status = 0
        if status in (200, 202) or time.monotonic() >= deadline:
            return status
        time.sleep(0.2)


def event_status(base: str, event_id: str) -> str | None:
    try:
        r = requests.get(f"{base}/events/{event_id}", timeout=5, headers=OPERATOR)
    except requests.RequestException:
        return None
    return r.json()["status"] if r.status_code == 200 else None


RABBITMQ = "amqp://guest:guest@127.0.0.1:5672//"


def rabbitmq_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5672), timeout=1):
            return True
    except OSError:
        return False


def purge_rabbitmq(broker: str = RABBITMQ) -> None:
    """Empty syndicate's queues on the machine's RabbitMQ (a test starts and ends clean)."""
    import kombu  # only the RabbitMQ tests need it

    with kombu.Connection(broker) as conn:
        channel = conn.channel()
        for queue in ("events", "deliveries", "pings"):
            try:
                channel.queue_purge(queue)
            except Exception:  # noqa: BLE001 - a queue not declared yet
                channel = conn.channel()
