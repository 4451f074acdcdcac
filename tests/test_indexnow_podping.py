"""IndexNow and Podping (CONTRACT §9) against loopback fakes that check every field
(tests/fakes.py FakeIndexNow, FakePodping): one `syndicate run` for the module, configured
for both, plus the batching rules driven directly on the session's Redis."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from lxml import etree

from feeds.article import format_time
from tests.fakes import FakeIndexNow, FakePodping
from tests.support import Run, event_status, load_fixture, post_event, wait_for

pytestmark = pytest.mark.xdist_group("indexnow_podping")  # one `syndicate run` for the module

KEY = FakeIndexNow.KEY
WINDOW_MS = 800
SITE = "https://news.example.org"


@pytest.fixture(scope="module")
def remotes() -> Any:
    engine, podping = FakeIndexNow(), FakePodping()
    engine.start()
    podping.start()
    yield engine, podping
    engine.stop()
    podping.stop()


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory, remotes: Any) -> Any:
    engine, podping = remotes
    run = Run(
        tmp_path_factory.mktemp("notify"),
        {
            "SYNDICATE_INDEXNOW_KEY": KEY,
            "SYNDICATE_INDEXNOW_ENDPOINT": engine.url + "/indexnow",
            "SYNDICATE_INDEXNOW_WINDOW_MS": str(WINDOW_MS),
            "SYNDICATE_RETRY_BASE_MS": "100",
            "SYNDICATE_PODPING_TOKEN": FakePodping.TOKEN,
            "SYNDICATE_PODPING_URL": podping.url,
            "SYNDICATE_HTTP_TIMEOUT": "2",
            "SYNDICATE_SITE_URL": SITE,
        },
    )
    try:
        run.wait_up()
        wait_for(
            lambda: json.loads(run.cli("status", "--json").stdout or "{}").get("renderers"),
            60,
            "the service's worker and renderer",
        )
        yield run
    finally:
        run.stop()


@pytest.fixture
def run(running: Run, remotes: Any) -> Run:
    for fake in remotes:
        fake.reset()
    return running


def article_event(n: int, kind: str = "published", version: int = 1) -> dict:
    article: dict = {"id": f"ix-{n}", "version": version}
    if kind != "unpublished":
        when = datetime.now(UTC) - timedelta(minutes=5)
        article.update(
            url=f"{SITE}/ix-{n}.html",
            title=f"Story {n} v{version}",
            published_at=format_time(when),
            updated_at=format_time(when + timedelta(seconds=version)),
        )
    return {"id": f"evt-ix-{n}-{kind}-{version}", "type": f"article.{kind}", "article": article}


def send(run: Run, *events: dict) -> None:
    for e in events:
        assert post_event(run.base, e) == 202
    for e in events:
        wait_for(lambda e=e: event_status(run.base, e["id"]) == "done", 20, e["id"])


def assert_well_formed(engine: FakeIndexNow) -> None:
    """Every submission as IndexNow wants it (the fake refuses anything else)."""
    assert engine.refusals == []
    for rec in engine.received("POST"):
        assert rec.path == "/indexnow"
        assert rec.headers["content-type"] == "application/json; charset=utf-8"
        assert "syndicate" in rec.headers["user-agent"]
        body = rec.json
        assert set(body) == {"host", "key", "keyLocation", "urlList"}
        assert body["host"] == "news.example.org" and body["key"] == KEY
        assert body["keyLocation"] == f"{SITE}/{KEY}.txt"
        assert 1 <= len(body["urlList"]) <= 10_000
        assert all(u.startswith(f"{SITE}/") for u in body["urlList"])


def test_a_burst_of_events_is_submitted_in_coalesced_batches(run, remotes):
    engine, _ = remotes
    urls = {f"{SITE}/ix-{n}.html" for n in range(20)}
    send(run, *(article_event(n) for n in range(20)))
    wait_for(lambda: set(engine.urls()) == urls, 20, "the burst submitted")
    assert len(engine.submissions()) <= 3 and len(engine.urls()) == 20
    assert_well_formed(engine)
    # changed, then unpublished: the URL goes again each time
    send(run, article_event(3, version=2))
    wait_for(lambda: engine.urls().count(f"{SITE}/ix-3.html") == 2, 20, "the update submitted")
    send(run, article_event(3, "unpublished", version=3))
    wait_for(lambda: engine.urls().count(f"{SITE}/ix-3.html") == 3, 20, "the retraction")
    assert_well_formed(engine)


def test_429_and_5xx_are_retried_and_403_is_permanent(run, remotes):
    engine, _ = remotes
    engine.fail_next(
        ("answer", 429, {"retry-after": "0", "content-type": "text/plain"}, b"slow"),
        ("answer", 503, {"content-type": "text/plain"}, b"down"),
    )
    send(run, article_event(40))
    wait_for(lambda: len(engine.received("POST")) == 3, 20, "two retries")
    lists = [r.json["urlList"] for r in engine.received("POST")]
    assert lists == [[f"{SITE}/ix-40.html"]] * 3  # the same batch each time
    assert_well_formed(engine)
    engine.fail_next(("answer", 403, {"content-type": "text/plain"}, b"key not valid"))
    send(run, article_event(41))
    wait_for(lambda: len(engine.received("POST")) == 4, 20, "the refused submission")
    time.sleep(1.5)  # a dozen retry delays at a 100 ms base: none came
    assert len(engine.received("POST")) == 4
    listed = run.cli("replay", "--list")
    assert "indexnow:" in listed.stdout, listed.stdout


def test_backfill_submits_nothing(run, remotes, tmp_path):
    engine, _ = remotes
    archive = tmp_path / "archive.jsonl"
    archive.write_text("\n".join(json.dumps(article_event(n)) for n in range(60, 63)) + "\n")
    result = run.cli("backfill", str(archive))
    assert result.returncode == 0, result.stdout + result.stderr
    time.sleep(3 * WINDOW_MS / 1000)
    assert engine.received("POST") == []


def test_check_says_whether_the_key_file_is_served(run, remotes):
    engine, _ = remotes
    here = {"SYNDICATE_INDEXNOW_KEY_LOCATION": f"{engine.url}/{KEY}.txt"}
    ok = run.cli("check", env=here)
    assert f"ok    indexnow: key file served at {engine.url}/{KEY}.txt" in ok.stdout, ok.stdout
    assert "ok    podping: on" in ok.stdout
    engine.key_file = b"another-key-0000"
    wrong = run.cli("check", env=here)
    assert "FAIL  indexnow:" in wrong.stdout and "does not hold the key" in wrong.stdout
    assert wrong.returncode == 1
    engine.key_file_redirect = "https://elsewhere.example/key.txt"
    moved = run.cli("check", env=here)
    assert "FAIL  indexnow:" in moved.stdout and "redirects" in moved.stdout
    assert not [r for r in engine.received("GET") if "elsewhere" in r.path]


def audio_rss(run: Run) -> bytes:
    return requests.get(
        f"{run.base}/feeds/audio.rss", timeout=5, headers={"Accept-Encoding": "identity"}
    ).content


def test_each_change_of_the_audio_feed_is_one_podping(run, remotes):
    _, podping = remotes
    event = load_fixture("audio-programme-published")
    event["article"]["id"] = "pp-1"
    event["id"] = "evt-pp-1"
    podping.fail_next(("answer", 502, {"content-type": "text/plain"}, b"bad gateway"))
    send(run, event)
    wait_for(lambda: len(podping.pings()) == 2, 20, "a podping, retried after the 502")
    assert podping.refusals == []
    for rec in podping.pings():
        assert rec.method == "GET" and rec.path.startswith("/?")
        assert rec.query == {
            "url": [f"{run.base}/feeds/audio.rss"],
            "reason": ["update"],
            "medium": ["podcast"],
        }
        assert rec.headers["authorization"] == FakePodping.TOKEN
        assert "syndicate" in rec.headers["user-agent"]
        assert FakePodping.TOKEN not in rec.path
    channel = etree.fromstring(audio_rss(run)).find("channel")
    tags = channel.findall("{https://podcastindex.org/namespace/1.0}podping")
    assert [t.get("usesPodping") for t in tags] == ["true"]
    # a render that changes nothing announces nothing
    assert run.cli("rebuild", "--feed", "audio").returncode == 0
    time.sleep(1.0)
    assert len(podping.pings()) == 2
    # a change of the bytes: one more
    event["id"] = "evt-pp-1-v2"
    event["article"]["version"] = 2
    event["article"]["title"] = "A new title for the programme"
    send(run, event)
    wait_for(lambda: len(podping.pings()) == 3, 20, "the second podping")
    time.sleep(0.5)
    assert len(podping.pings()) == 3 and podping.refusals == []


def test_batches_hold_at_most_10000_urls_of_one_host(settings, clean_redis, remotes):
    """The flush's rules, driven directly on the session's Redis: 10,000 URLs a request, one
    host a request, every URL once."""
    from worker import indexnow
    from worker.runtime import Runtime

    engine, _ = remotes
    engine.reset()
    rt = Runtime(
        settings.with_(indexnow_key=KEY, indexnow_endpoint=engine.url + "/indexnow", site_url=SITE)
    )
    ours = [f"{SITE}/bulk/{i}" for i in range(10_050)]
    theirs = [f"https://other.example.org/p/{i}" for i in range(5)]
    indexnow.queue_urls(rt, ours + theirs + ours[:10] + ["ftp://nope.example/x"])
    while indexnow.run(rt) != "empty":
        pass
    bodies = engine.submissions()
    assert [len(b["urlList"]) for b in bodies] == [10_000, 50, 5]
    assert [b["host"] for b in bodies] == ["news.example.org"] * 2 + ["other.example.org"]
    assert bodies[2]["keyLocation"] == f"https://other.example.org/{KEY}.txt"
    assert sorted(engine.urls()) == sorted(ours + theirs) and engine.refusals == []
