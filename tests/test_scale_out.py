"""Scale-out and high availability: three `syndicate worker` processes (concurrency 1 each) on one
Redis through a burst, with Redis and with RabbitMQ as the broker; and Redis Sentinel named in
SYNDICATE_REDIS_URL (and so the broker), through a failover of the master."""

from __future__ import annotations

import contextlib
import copy
import json
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import feedparser
import pytest
import redis
import requests

from bench.service import children
from syndicate.config import ConfigError, Settings
from syndicate.connections import celery_broker, parse_sentinel
from syndicate.embedded_redis import EmbeddedRedis, redis_server_binary
from syndicate.process import Supervised, die_with_parent, stop
from tests.support import (
    OPERATOR,
    RABBITMQ,
    ROOT,
    api_process,
    event_status,
    free_port,
    load_fixture,
    post_event,
    purge_rabbitmq,
    rabbitmq_up,
    run_cli,
    wait_for,
)
from worker.store import keys

NETWORKS = ("twitter", "facebook", "googleplus", "mastodon")


# Sentinel URLs ---------------------------------------------------------------------------------
def test_a_sentinel_url_names_the_sentinels_the_master_and_the_database():
    address = parse_sentinel("sentinel://:pw@10.0.0.1:26379,[::1]:26380,sentinel-3/syndicate/2")
    assert address.sentinels == (("10.0.0.1", 26379), ("::1", 26380), ("sentinel-3", 26379))
    assert (address.master, address.db, address.password) == ("syndicate", 2, "pw")
    url, options = celery_broker("sentinel://:pw@h1:1,h2:2/syndicate/2")
    assert url == "sentinel://:pw@h1:1/2;sentinel://:pw@h2:2/2"
    assert options == {"master_name": "syndicate"}
    assert celery_broker("redis://h:6379/0") == ("redis://h:6379/0", {})


@pytest.mark.parametrize(
    "url, says",
    [
        ("sentinel://h1:26379", "must name the master"),
        ("sentinel:///syndicate", "names no sentinel"),
        ("sentinel://h1:port/syndicate", "malformed sentinel address"),
        ("sentinel://h1:26379/syndicate/zero", "not a number"),
    ],
)
def test_a_malformed_sentinel_url_is_refused_at_start_up_with_the_reason(url, says):
    with pytest.raises(ConfigError, match=says):
        Settings.from_env({"SYNDICATE_REDIS_URL": url})


# Helpers ----------------------------------------------------------------------------------------
def _env(settings_env: dict[str, str], **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATE_")}
    return {**env, **settings_env, "SYNDICATE_LOG_JSON": "1", **extra}


def _worker_command(n: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "cli",
        "worker",
        "--concurrency=1",
        "--loglevel=INFO",
        "--without-gossip",
        "--without-mingle",
        f"--hostname=w{n}@%h",
    ]


@contextlib.contextmanager
def _workers(env: dict[str, str], count: int, log_dir: Path, supervised: bool = False):
    """`count` real `syndicate worker --concurrency=1` processes; yields them and their log
    paths. `supervised`: each is started again if it exits, as compose's `restart:` does."""
    procs: list = []
    logs = []
    try:
        for n in range(count):
            path = log_dir / f"worker-{n}.log"
            log = open(path, "ab")  # noqa: SIM115 (closed below)
            logs.append((path, log))
            if supervised:
                procs.append(
                    Supervised(
                        _worker_command(n),
                        env=env,
                        cwd=str(ROOT),
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    ).start()
                )
            else:
                procs.append(
                    subprocess.Popen(
                        _worker_command(n),
                        env=env,
                        cwd=ROOT,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        preexec_fn=die_with_parent,
                    )
                )
        yield procs, [p for p, _ in logs]
    finally:
        for proc in procs:
            if supervised:
                proc.stop(20)
            else:
                stop(proc, 20)
        for _, log in logs:
            log.close()


def _event(n: int, tag: str, version: int = 1) -> dict:
    event = copy.deepcopy(load_fixture("seed-article-published"))
    event["id"] = f"evt-{tag}-{n}-v{version}"
    event["type"] = "article.published" if version == 1 else "article.updated"
    event["article"].update(
        id=f"{tag}-{n}",
        version=version,
        title=f"{tag} {n} v{version}",
        url=f"https://news.example.org/{tag}/{n}.html",
        tags=[tag, f"{tag}{n % 4}"],
        updated_at=f"2024-05-01T12:{version:02d}:00Z",
    )
    event["article"]["share"]["networks"] = list(NETWORKS)
    return event


def _entries(base: str, key: str) -> dict[str, str]:
    """The feed as a reader sees it: entry link -> title."""
    try:
        r = requests.get(f"{base}/feeds/{key}.atom", timeout=5)
    except requests.RequestException:
        return {}
    if r.status_code != 200:
        return {}
    feed = feedparser.parse(r.content)
    assert not feed.bozo, feed.get("bozo_exception")
    return {e.link: e.title for e in feed.entries}


def _render_spans(log_paths: list[Path]) -> dict[str, list[tuple[float, float, str]]]:
    """Every render the workers logged: feed -> [(start, end, worker)], from the JSON lines."""
    spans: dict[str, list[tuple[float, float, str]]] = {}
    for path in log_paths:
        for line in path.read_text(errors="replace").splitlines():
            if not line.startswith("{"):
                continue
            record = json.loads(line)
            if not record.get("message", "").startswith("rendered ") or "feed" not in record:
                continue
            end = datetime.fromisoformat(record["ts"].replace("Z", "+00:00")).timestamp()
            seconds = record["duration_ms"] / 1000
            spans.setdefault(record["feed"], []).append((end - seconds, end, path.stem))
    return spans


# Three workers through a burst -----------------------------------------------------------------
@pytest.mark.parametrize(
    "broker",
    [
        "redis",
        pytest.param(
            "amqp",
            marks=pytest.mark.skipif(not rabbitmq_up(), reason="no RabbitMQ on 127.0.0.1:5672"),
        ),
    ],
)
def test_three_workers_through_a_burst_agree_post_once_and_coalesce_renders(
    broker, settings, settings_env, fakes, mastodon, tmp_path, rabbitmq_turn
):
    server = EmbeddedRedis(tmp_path / "redis", port=free_port())
    url = server.start()
    extra = {"SYNDICATE_REDIS_URL": url, **mastodon.environment()}
    if broker == "amqp":
        extra["SYNDICATE_BROKER_URL"] = RABBITMQ
        purge_rabbitmq(extra["SYNDICATE_BROKER_URL"])
    env = _env(settings_env, **extra)
    fakes.reset()
    tag = f"scale{broker}"
    publishes = [_event(n, tag) for n in range(90)]
    updates = [_event(n, tag, version=2) for n in range(0, 90, 3)]
    burst = publishes + updates
    try:
        with api_process(Settings.from_env(env), env) as base:
            # Half the burst waits in the queue before any worker is up; the rest comes while
            # the three work through it, in no particular order.
            with ThreadPoolExecutor(8) as pool:
                answers = list(pool.map(lambda e: post_event(base, e), burst[::2]))
                with _workers(env, 3, tmp_path) as (procs, logs):
                    r = redis.Redis.from_url(url)
                    wait_for(lambda: r.zcard(keys.WORKERS) >= 3, timeout=90, what="three workers")
                    answers += list(pool.map(lambda e: post_event(base, e), burst[1::2]))
                    assert answers == [202] * len(burst)
                    _after_the_burst(
                        base, env, r, fakes, mastodon, tag, publishes, updates, procs, logs
                    )
    finally:
        server.stop()
        if broker == "amqp":
            purge_rabbitmq(extra["SYNDICATE_BROKER_URL"])


def _after_the_burst(base, env, r, fakes, mastodon, tag, publishes, updates, procs, logs) -> None:
    for event in publishes + updates:
        wait_for(
            lambda: event_status(base, event["id"]) == "done",
            timeout=120,
            what=f"{event['id']} done",
        )
    wait_for(
        lambda: r.scard(keys.DIRTY) == 0 and not any(r.scan_iter(keys.render_lock_key("*"))),
        timeout=60,
        what="renders settled",
    )

    # Identical final feeds: what the readers get is the final state, and a fresh
    # render of every feed from the store changes no byte.
    latest = {
        e["article"]["url"]: e["article"]["title"] for e in publishes + updates
    }  # updates come last: v2 wins
    whole = _entries(base, f"tag/{tag}")  # the newest 50 (SYNDICATE_FEED_SIZE) of the 90
    assert len(whole) == 50 and all(latest[u] == t for u, t in whole.items())
    for k in range(4):
        assert _entries(base, f"tag/{tag}{k}") == {
            u: t for u, t in latest.items() if int(u.rsplit("/", 1)[1][:-5]) % 4 == k
        }
    rebuilt = run_cli(env, "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert rebuilt.stdout.strip().endswith(", 0 changed"), rebuilt.stdout

    # One post per network and article, whichever worker took which delivery.
    wait_for(
        lambda: all(
            s.get(n, {}).get("state") == "sent" for s in _shares(base, publishes) for n in NETWORKS
        ),
        timeout=90,
        what="every post sent",
    )
    urls = [e["article"]["url"] for e in publishes]
    posted = {
        "twitter": [u for text in fakes.twitter.posts.values() for u in urls if u in text],
        "facebook": [p["link"] for p in fakes.facebook.posts.values()],
        "googleplus": [
            u for a in fakes.googleplus.activities.values() for u in urls if u in json.dumps(a)
        ],
        "mastodon": [u for s in mastodon.statuses.values() for u in urls if u in s["content"]],
    }
    for network, got in posted.items():
        assert Counter(got) == Counter(urls), network
    assert len(fakes.twitter.received("POST", "/2/tweets")) == len(urls)

    # Renders, whichever worker's renderer took each: never two of one feed at once, and
    # coalesced: after a render no renderer takes that feed again for
    # SYNDICATE_RENDER_INTERVAL_MS, so the changes of many events go out in one render.
    hold = Settings.from_env(env).render_interval_ms / 1000
    spans = _render_spans(logs)
    for feed, feed_spans in spans.items():
        feed_spans.sort()
        for (_, end, _), (start, _, _) in zip(feed_spans, feed_spans[1:]):
            assert start >= end + hold - 0.002, (feed, feed_spans)  # log times are in ms
    events = len(publishes) + len(updates)
    assert len(spans[f"tag/{tag}"]) < events / 2, len(spans[f"tag/{tag}"])
    assert all(p.poll() is None for p in procs)


def _shares(base: str, events: list[dict]) -> list[dict]:
    out = []
    for event in events:
        r = requests.get(f"{base}/articles/{event['article']['id']}", timeout=5, headers=OPERATOR)
        out.append(r.json()["shares"] if r.status_code == 200 else {})
    return out


# Redis Sentinel --------------------------------------------------------------------------------
class SentinelSet:
    """A master, one replica and three sentinels: real `redis-server` processes on loopback."""

    MASTER = "syndicate"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.master_port, self.replica_port = free_port(), free_port()
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.procs: dict[str, subprocess.Popen] = {}

    def _start(self, name: str, *args: str) -> None:
        folder = self.workdir / name
        folder.mkdir(parents=True, exist_ok=True)
        self.procs[name] = subprocess.Popen(
            [redis_server_binary(), *args],
            cwd=folder,
            preexec_fn=die_with_parent,
            stdout=open(folder / "out.log", "ab"),
            stderr=subprocess.STDOUT,
        )  # noqa: SIM115

    def start(self) -> None:
        common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self._start("master", "--port", str(self.master_port), *common)
        self._start(
            "replica",
            "--port",
            str(self.replica_port),
            *common,
            "--replicaof",
            "127.0.0.1",
            str(self.master_port),
        )
        for n, port in enumerate(self.sentinel_ports):
            folder = self.workdir / f"sentinel-{n}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "sentinel.conf").write_text(
                f"port {port}\nbind 127.0.0.1\ndir {folder}\n"
                f"sentinel monitor {self.MASTER} 127.0.0.1 {self.master_port} 2\n"
                f"sentinel down-after-milliseconds {self.MASTER} 1000\n"
                f"sentinel failover-timeout {self.MASTER} 4000\n"
            )
            self._start(f"sentinel-{n}", str(folder / "sentinel.conf"), "--sentinel")
        # Ready when the replica is in sync and every sentinel knows of it and of the others.
        wait_for(
            lambda: (
                self._ask(self.replica_port, "info", "replication").get("master_link_status")
                == "up"
            ),
            timeout=30,
            what="the replica in sync",
        )
        wait_for(
            lambda: all(self._knows_all(p) for p in self.sentinel_ports),
            timeout=30,
            what="the sentinels to know the replica and each other",
        )

    def _ask(self, port: int, *command: str):
        try:
            return redis.Redis(port=port, socket_timeout=1).execute_command(*command)
        except redis.RedisError:
            return {}

    def _knows_all(self, port: int) -> bool:
        try:
            client = redis.Redis(port=port, socket_timeout=1, decode_responses=True)
            return (
                len(client.sentinel_slaves(self.MASTER)) == 1
                and len(client.sentinel_sentinels(self.MASTER)) == 2
            )
        except redis.RedisError:
            return False

    def master_port_now(self) -> int | None:
        try:
            client = redis.Redis(port=self.sentinel_ports[0], socket_timeout=1)
            return int(client.sentinel_get_master_addr_by_name(self.MASTER)[1])
        except (redis.RedisError, TypeError):
            return None

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports)
        return f"sentinel://{hosts}/{self.MASTER}/0"

    def kill(self, name: str) -> None:
        self.procs[name].kill()
        self.procs[name].wait()

    def stop(self) -> None:
        for proc in self.procs.values():
            stop(proc, 5)


@pytest.fixture
def sentinels(tmp_path):
    group = SentinelSet(tmp_path / "sentinel")
    try:
        group.start()
        yield group
    finally:
        group.stop()


def test_the_service_on_redis_sentinel_survives_a_failover_of_the_master(
    sentinels, settings_env, tmp_path
):
    env = _env(settings_env, SYNDICATE_REDIS_URL=sentinels.url)
    env.pop("SYNDICATE_BROKER_URL", None)  # the broker is the same Redis, through the sentinels
    before = [_event(n, "sentinel") for n in range(10)]
    after = [_event(n, "sentinel") for n in range(10, 20)]
    for event in before + after:
        event["article"]["share"]["networks"] = []
    # Supervised as compose supervises it: kombu's reconnect to the promoted master can make the
    # Celery worker exit ("'NoneType' object has no attribute 'hostname'"), and then it is
    # started again; its unacknowledged tasks are in Redis.
    with (
        _workers(env, 1, tmp_path, supervised=True) as (procs, _),
        api_process(Settings.from_env(env), env) as base,
    ):
        wait_for(
            lambda: requests.get(base + "/readyz", headers=OPERATOR, timeout=5).json()["ready"],
            timeout=60,
            what="ready through the sentinels",
        )
        assert [post_event(base, e) for e in before] == [202] * len(before)
        for event in before:
            wait_for(lambda: event_status(base, event["id"]) == "done", timeout=60, what="done")
        wait_for(lambda: len(_entries(base, "tag/sentinel")) == 10, what="ten in the feed")
        master = redis.Redis(port=sentinels.master_port)
        assert master.execute_command("WAIT", 1, 5000) == 1  # the replica has all of it

        sentinels.kill("master")  # SIGKILL: the sentinels promote the replica
        wait_for(
            lambda: sentinels.master_port_now() == sentinels.replica_port,
            timeout=30,
            what="the failover",
        )
        # The CMS keeps trying what is refused while the clients find the new master.
        assert [post_event(base, e, retry_for=60) for e in after] == [202] * len(after)
        for event in after:
            wait_for(lambda: event_status(base, event["id"]) == "done", timeout=90, what="done")
        wait_for(
            lambda: len(_entries(base, "tag/sentinel")) == 20,
            timeout=30,
            what="all twenty in the feed, served from the promoted replica",
        )
        promoted = redis.Redis(port=sentinels.replica_port)
        assert promoted.info("replication")["role"] == "master"
        assert promoted.zcard(keys.items_key("tag/sentinel")) == 20
        assert all(p.poll() is None for p in procs)  # running (perhaps started again)
        status = run_cli(env, "status", "--json")
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["workers"], status.stdout


# Several API processes ---------------------------------------------------------------------------
def test_the_api_in_several_processes_shares_its_port_and_stops_as_one(
    settings_env, worker, clean_redis, tmp_path
):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = _env(settings_env)

    def start() -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli", "api", "--port", str(port), "--processes", "2"],
            env=env,
            cwd=ROOT,
            preexec_fn=die_with_parent,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )

        def up() -> bool:
            try:
                return requests.get(base + "/healthz", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_for(lambda: len(children(proc.pid)) == 2 and up(), 30, "two API processes")
        return proc

    proc = start()
    try:
        events = [_event(n, "processes") for n in range(20)]
        for event in events:
            event["article"]["share"]["networks"] = []
        with ThreadPoolExecutor(8) as pool:
            assert list(pool.map(lambda e: post_event(base, e), events)) == [202] * 20
        for event in events:
            wait_for(lambda: event_status(base, event["id"]) == "done", 30, "done")
        # One of them dies: the others are stopped and the command exits non-zero, for the
        # supervisor to start the API again.
        first, second = children(proc.pid)
        os.kill(first, 9)
        assert proc.wait(15) != 0
        wait_for(lambda: not Path(f"/proc/{second}").exists(), 10, "the other process gone")
    finally:
        stop(proc)
    proc = start()
    kids = children(proc.pid)
    proc.terminate()  # SIGTERM stops all of them, cleanly
    assert proc.wait(15) == 0
    assert not any(Path(f"/proc/{k}").exists() for k in kids)


def test_the_worker_healthcheck_wants_the_worker_and_its_renderer(settings_env, tmp_path):
    server = EmbeddedRedis(tmp_path / "redis", port=free_port())
    url = server.start()
    env = _env(settings_env, SYNDICATE_REDIS_URL=url)

    def healthcheck() -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "worker.healthcheck"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )

    try:
        r = redis.Redis.from_url(url)
        assert "no heartbeat from a worker" in healthcheck().stderr
        r.zadd(keys.WORKERS, {f"w0@{socket.gethostname()}": time.time()})
        answer = healthcheck()  # a worker whose renderer is not running is not healthy
        assert answer.returncode == 1 and "no heartbeat from a renderer" in answer.stderr
        with _workers(env, 1, tmp_path):
            wait_for(lambda: healthcheck().returncode == 0, 60, "a healthy worker")
    finally:
        server.stop()


def _renderers_of(pid: int) -> list[int]:
    out = []
    for child in children(pid):
        try:
            if b"worker.renderer" in Path(f"/proc/{child}/cmdline").read_bytes():
                out.append(child)
        except OSError:
            pass
    return out


def test_a_killed_renderer_is_started_again_and_its_feeds_are_rendered(
    settings, settings_env, tmp_path
):
    server = EmbeddedRedis(tmp_path / "redis", port=free_port())
    url = server.start()
    env = _env(settings_env, SYNDICATE_REDIS_URL=url)
    try:
        with (
            _workers(env, 1, tmp_path) as (procs, _),
            api_process(Settings.from_env(env), env) as base,
        ):
            first = wait_for(lambda: _renderers_of(procs[0].pid), 60, "the renderer")
            os.kill(first[0], 9)  # SIGKILL, mid-whatever
            again = wait_for(
                lambda: [p for p in _renderers_of(procs[0].pid) if p not in first],
                30,
                "a new renderer",
            )
            assert again and procs[0].poll() is None
            event = _event(1, "renderer")
            event["article"]["share"]["networks"] = []
            assert post_event(base, event) == 202
            wait_for(lambda: _entries(base, "tag/renderer"), 30, "the feed rendered")
    finally:
        server.stop()
