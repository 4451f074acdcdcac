"""Bad days: Redis killed and restarted mid-burst, a second broker (RabbitMQ), duplicate and
out-of-order delivery, slow request bodies, and the service never fetching URLs from events."""

from __future__ import annotations

import copy
import json
import os
import socket
import sys
import time
from datetime import UTC, datetime, timedelta

import feedparser
import pytest
import redis
import requests
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from feeds.article import ArticleEvent
from syndicate.embedded_redis import EmbeddedRedis
from syndicate.process import Supervised
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
    signed_headers,
    wait_for,
)
from worker.social import NETWORKS
from worker.store import Store, keys


def _burst_event(n: int, tag: str) -> dict:
    event = copy.deepcopy(load_fixture("seed-article-published"))
    event["id"] = f"evt-{tag}-{n}"
    event["article"].update(
        id=f"{tag}-{n}", url=f"https://news.example.org/{tag}-{n}.html", tags=[tag]
    )
    event["article"]["share"]["networks"] = []
    return event


@pytest.fixture
def own_redis(tmp_path):
    """A standalone redis-server with appendonly on its own port, which the test may kill."""
    server = EmbeddedRedis(tmp_path / "redis", port=free_port())
    server.start()
    yield server
    server.stop()


def _own_service(settings_env: dict[str, str], url: str, tmp_path, **extra: str):
    """A worker on another Redis, supervised as `syndicate run` and compose supervise theirs."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SYNDICATE_")},
        **settings_env,
        "SYNDICATE_REDIS_URL": url,
        **extra,
    }
    log = open(tmp_path / "worker.log", "ab")  # noqa: SIM115 (closed with the test's tmp dir)
    worker = Supervised(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "worker.main",
            "worker",
            "--loglevel=INFO",
            "--concurrency=2",
            "--without-gossip",
            "--without-mingle",
        ],
        env=env,
        cwd=str(ROOT),
        stdout=log,
        stderr=log,
    )
    worker.start()
    r = redis.Redis.from_url(url)
    wait_for(lambda: r.zcard(keys.WORKERS) > 0, timeout=60, what="worker start")
    return env, worker


def test_redis_killed_and_restarted_mid_burst_loses_no_accepted_event(
    own_redis, settings, settings_env, tmp_path
):
    env, worker = _own_service(settings_env, own_redis.url, tmp_path)
    try:
        with api_process(settings, env) as base:
            answers: dict[str, int] = {}
            events = [_burst_event(n, "restart") for n in range(60)]
            for n, event in enumerate(events):
                if n == 20:
                    own_redis.proc.kill()  # SIGKILL: no shutdown, no final AOF flush
                    own_redis.proc.wait()
                if n == 40:
                    own_redis.start()  # same port, same append-only file
                answers[event["id"]] = post_event(base, event)
            accepted = [e for e in events if answers[e["id"]] == 202]
            refused = [e for e in events if answers[e["id"]] != 202]
            assert len(accepted) >= 40 and refused, answers  # the outage was felt, and answered
            assert all(answers[e["id"]] in (0, 503) for e in refused)
            for event in accepted:  # every 202 is applied, though Redis died after some of them
                wait_for(
                    lambda: event_status(base, event["id"]) == "done",
                    timeout=90,
                    what=f"{event['id']} done",
                )
            for event in refused:  # the CMS retries what was refused; then all of it is there
                assert wait_for(
                    lambda: post_event(base, event) in (200, 202), what="retry accepted"
                )
                wait_for(
                    lambda: event_status(base, event["id"]) == "done",
                    timeout=60,
                    what=f"{event['id']} done",
                )
            r = redis.Redis.from_url(own_redis.url)
            members = r.zrange(keys.items_key("tag/restart"), 0, -1)
            assert len(members) == 60
            # (If kombu's reconnect crashed the worker, it was started again: worker.restarts.)
    finally:
        worker.stop()


@pytest.mark.skipif(not rabbitmq_up(), reason="no RabbitMQ on 127.0.0.1:5672")
def test_the_pipeline_on_rabbitmq(own_redis, settings, settings_env, tmp_path, rabbitmq_turn):
    broker = RABBITMQ
    purge_rabbitmq(broker)  # start from empty queues
    env, worker = _own_service(settings_env, own_redis.url, tmp_path, SYNDICATE_BROKER_URL=broker)
    try:
        with api_process(settings, env) as base:
            assert (
                requests.get(base + "/readyz", timeout=10, headers=OPERATOR).json()["ready"] is True
            )
            events = [_burst_event(n, "amqp") for n in range(10)]
            assert [post_event(base, e) for e in events] == [202] * 10
            for event in events:
                wait_for(
                    lambda: event_status(base, event["id"]) == "done",
                    timeout=60,
                    what=f"{event['id']} done",
                )
            wait_for(lambda: _entries(base, "tag/amqp") == 10, what="all ten items in the feed")
        status = json.loads(run_cli(env, "status", "--json").stdout)
        assert all(isinstance(n, int) for n in status["queues"].values()), status["queues"]
    finally:
        worker.stop()


def _entries(base: str, key: str) -> int:
    r = requests.get(f"{base}/feeds/{key}.atom", timeout=5)
    return len(feedparser.parse(r.content).entries) if r.status_code == 200 else 0


# Duplicate and out-of-order delivery ----------------------------------------------------------
BASE = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _history_event(step: int, kind: str) -> ArticleEvent:
    payload = copy.deepcopy(load_fixture("seed-article-published"))
    article = payload["article"]
    article.update(
        version=step + 1,
        title=f"Version {step + 1}",
        updated_at=(BASE + timedelta(minutes=step)).isoformat().replace("+00:00", "Z"),
        tags=["NATO"] if step % 2 else ["Ukraine"],
    )
    if kind == "article.unpublished":
        article = {"id": article["id"], "version": step + 1, "updated_at": article["updated_at"]}
    return ArticleEvent.from_payload(f"e{step}", {"type": kind, "article": article})


def _state(r: redis.Redis, article_id: str) -> tuple:
    stored = r.hgetall(keys.article_key(article_id))
    feeds = sorted(
        k.decode()
        for k in r.smembers(keys.FEEDS)
        if r.zscore(keys.items_key(k.decode()), article_id) is not None
    )
    # What readers see: the state, the version, the feeds, and the content while published (an
    # unpublished article keeps whichever older copy it happened to see; nobody is shown it).
    title = json.loads(stored[b"doc"])["title"] if stored[b"state"] == b"published" else None
    return stored[b"state"], stored[b"version"], title, feeds


@hsettings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    kinds=st.lists(
        st.sampled_from(["article.published", "article.updated", "article.unpublished"]),
        min_size=1,
        max_size=6,
    ),
    data=st.data(),
)
def test_duplicates_and_any_order_end_where_in_order_delivery_ends(
    settings, clean_redis, kinds, data
):
    """The store on a real Redis: a history delivered shuffled with duplicates ends in the same
    state as the history delivered once, in order."""
    r = redis.Redis.from_url(settings.redis_url)
    store = Store(r, NETWORKS, settings.feed_size)
    history = [_history_event(step, kind) for step, kind in enumerate(kinds)]
    delivered = data.draw(
        st.lists(st.sampled_from(history), min_size=len(history), max_size=3 * len(history)).map(
            lambda extra: extra + history
        )
    )
    delivered = data.draw(st.permutations(delivered))
    results = []
    for order in (history, delivered):
        for key in r.scan_iter(keys.PREFIX + "*"):
            if not key.startswith(keys.WORKERS.encode()):
                r.delete(key)
        for event in order:
            store.articles.apply(event)
        results.append(_state(r, history[0].article_id))
    for key in r.scan_iter(keys.PREFIX + "*"):
        if not key.startswith(keys.WORKERS.encode()):
            r.delete(key)
    assert results[0] == results[1]


# Slow bodies and URLs from events -------------------------------------------------------------
def test_a_slow_request_body_times_out_and_changes_nothing(service, settings, settings_env):
    event = load_fixture("seed-article-published")
    body = json.dumps(event).encode()
    with api_process(settings, {**settings_env, "SYNDICATE_BODY_TIMEOUT": "1"}) as base:
        port = int(base.rsplit(":", 1)[1])
        headers = signed_headers(event["id"], body)
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(
                f"POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
                f"{head}\r\n".encode()
                + body[:20]
            )
            started = time.monotonic()
            answer = sock.recv(4096).decode()
        assert answer.startswith("HTTP/1.1 408"), answer
        assert time.monotonic() - started < 5
    assert service.client.get(f"/events/{event['id']}").status_code == 404


def test_the_service_never_fetches_a_url_taken_from_an_event(service, fakes):
    trap = fakes.hub.url + "/trap"
    event = copy.deepcopy(load_fixture("seed-article-published"))
    article = event["article"]
    article["url"] = trap + "/article.html"
    article["image"]["url"] = trap + "/image.jpg"
    article["comments"]["url"] = trap + "/comments"
    article["related"][0]["url"] = trap + "/related"
    article["share"]["networks"] = ["googleplus", "facebook", "twitter"]
    assert service.send(event).status_code == 202
    assert service.event_done(event["id"])["status"] == "done"
    wait_for(lambda: len(fakes.googleplus.received("POST")) == 1, what="the shares")
    service.idle()
    assert [r for r in fakes.hub.received() if r.path.startswith("/trap")] == []


def test_a_worker_that_exits_on_its_own_is_started_again_and_stop_is_final(tmp_path):
    """`syndicate run`'s supervision (a Redis restart can make kombu crash the worker)."""
    marks = tmp_path / "starts"
    child = Supervised(
        [
            sys.executable,
            "-c",
            f"open({str(marks)!r}, 'a').write('x'); import time; time.sleep(0.2)",
        ],
        env=dict(os.environ),
    )
    child.start()
    try:
        wait_for(lambda: child.restarts >= 2, timeout=20, what="two restarts")
    finally:
        child.stop()
    starts = len(marks.read_text())
    time.sleep(1.5)  # a process, not the service: longer than the supervisor's restart delay
    assert child.poll() is not None and len(marks.read_text()) == starts
