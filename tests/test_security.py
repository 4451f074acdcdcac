"""Issue #11 as observed: hostile or careless input, strangers, secrets. Each test drives the
real worker (and, where it is about the HTTP server or the commands, the real processes) and
looks downstream: what the feeds, the networks and the stored records show afterwards."""

from __future__ import annotations

import copy
import json
import logging
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from datetime import UTC, datetime

import feedparser
import pytest
import requests
from lxml import html
from starlette.testclient import TestClient

from api.app import create_app
from feeds import share
from feeds.article import Article, ArticleEvent, format_time
from syndicate.logs import PlainFormatter, RedactSecrets, register_secrets
from tests.fakes import FakeFacebook
from tests.support import (
    ADMIN_TOKEN,
    OPERATOR,
    ROOT,
    api_process,
    free_port,
    load_fixture,
    publish,
    run_cli,
    signed_headers,
    wait_for,
)
from worker import rendering
from worker.delivery import Delivery
from worker.retry import DELIVERY, RENDER
from worker.runtime import configure
from worker.store import keys

SEED_ID = "20230713-0001"


def seed(**article_changes) -> dict:
    event = copy.deepcopy(load_fixture("seed-article-published"))
    event["article"].update(article_changes)
    return event


def titles(service, key: str, fmt: str = "atom") -> list[str]:
    r = service.feed(key, fmt)
    return [e.title for e in feedparser.parse(r.content).entries] if r.status_code == 200 else []


def unpublish(service, article_id: str, event_id: str, version: int = 99) -> None:
    event = {
        "id": event_id,
        "type": "article.unpublished",
        "article": {"id": article_id, "version": version},
    }
    assert service.send(event).status_code == 202
    assert service.event_done(event_id)["status"] == "done"


def canary(service, n: int) -> dict:
    """A fresh article in `all`, its section, tag and author feeds, sent after the damage."""
    event = seed(
        id=f"canary-{n}",
        url=f"https://news.example.org/canary-{n}",
        title=f"Canary {n}",
        version=1,
        tags=["Canary"],
        published_at=format_time(datetime.now(UTC)),
    )
    event["id"] = f"evt-canary-{n}"
    event["article"].pop("updated_at", None)
    assert service.send(event).status_code == 202
    return event


# 1. Failure isolation ------------------------------------------------------------------------
def test_a_poisoned_article_in_the_store_loses_its_item_never_the_feeds(service):
    """An article that slipped past intake (written to the store directly, as an older version
    of syndicate accepted it: `audio.duration` 3600.0) makes its item fail to render. Every feed
    still renders, a canary still appears everywhere, and the poisoned article can be unpublished."""

    audio = copy.deepcopy(load_fixture("audio-programme-published"))
    audio["article"]["audio"]["duration"] = 3600.0  # a float where an integer belongs
    audio["article"]["title"] = "Poisoned programme"
    rt = configure(service.client.app.state.runtime.settings)
    rt.store.articles.apply(ArticleEvent.from_payload("evt-poison", audio), {})
    poisoned = audio["article"]["id"]

    event = canary(service, 1)
    service.event_done(event["id"])
    service.settle()
    for key in ("all", "section/news", "tag/canary"):
        assert "Canary 1" in titles(service, key), key
    assert "Poisoned programme" not in titles(service, "audio", "rss")
    assert service.feed("audio", "rss").status_code == 200
    meta = service.redis.hgetall(keys.meta_key("audio"))
    assert poisoned in meta[b"skipped"].decode()  # recorded with its reason

    unpublish(service, poisoned, "evt-poison-gone")
    service.settle()
    for key in ("all", "audio"):
        for fmt in ("rss", "atom"):
            assert "Poisoned programme" not in titles(service, key, fmt)


def test_a_feed_whose_render_raises_is_retried_with_backoff_then_dead_lettered(
    service, monkeypatch
):
    """A unit of rendering that raises is recorded on the feed, scheduled again with growing
    delays, and after its last attempt dead-lettered; a later success clears it."""

    assert service.send(load_fixture("seed-article-published")).status_code == 202
    service.event_done(load_fixture("seed-article-published")["id"])
    service.settle()
    rt = configure(service.client.app.state.runtime.settings)

    def broken(*_args, **_kw):
        raise RuntimeError("writer exploded")

    monkeypatch.setattr(rendering, "render", broken)
    for attempt in range(1, RENDER.max_attempts + 1):
        outcome = rendering.render_and_save(rt, "tag/nato")
        assert outcome.failed == "RuntimeError: writer exploded"
        meta = service.redis.hgetall(keys.meta_key("tag/nato"))
        assert int(meta[b"render_failures"]) == attempt
        scheduled = [json.loads(m) for m in service.redis.zrange(keys.SCHEDULE, 0, -1)]
        retry = {"task": "render", "args": ["tag/nato"]}
        if attempt < RENDER.max_attempts:
            assert retry in scheduled
            service.redis.delete(keys.SCHEDULE)
        else:
            assert retry not in scheduled
    assert service.redis.zscore(keys.DEAD, "render:tag/nato") is not None
    monkeypatch.undo()
    assert not rendering.render_and_save(rt, "tag/nato").failed
    assert service.redis.zscore(keys.DEAD, "render:tag/nato") is None
    assert service.redis.hget(keys.meta_key("tag/nato"), "render_failures") == b"0"


# 2. What is accepted renders -------------------------------------------------------------------
@pytest.mark.parametrize(
    "change, field",
    [
        ({"title": "\u202e"}, "article.title"),
        ({"title": "<b></b>\u200b"}, "article.title"),
        ({"version": 1.0}, "article.version"),
        ({"version": 1e300}, "article.version"),
        ({"published_at": "0001-01-01T00:00:00Z"}, "article.published_at"),
        ({"published_at": "9999-12-31T23:59:59-01:00"}, "article.published_at"),
        ({"id": "bad\nid"}, "article.id"),
        (
            {
                "audio": {
                    "url": "https://x.example/a.mp3",
                    "type": "audio/mpeg",
                    "length": 1,
                    "duration": 3600.0,
                }
            },
            "article.audio.duration",
        ),
        ({"image": {"url": "javascript:alert(1)"}}, "article.image.url"),
        ({"related": [{"url": "file:///etc/passwd"}]}, "article.related[0].url"),
        ({"tags": [f"t{i}" for i in range(2000)]}, "article.tags"),
        ({"share": {"hashtags": [f"h{i}" for i in range(250)]}}, "article.share.hashtags"),
        ({"authors": [{"name": "\u0007"}]}, "article.authors[0].name"),
    ],
)
def test_intake_names_each_field_the_worker_could_not_render(service, change, field):
    event = seed(**change)
    event["id"] = f"evt-bad-{abs(hash(field + repr(change))) % 10**8}"
    r = service.send(event)
    assert r.status_code == 422, r.text
    assert field in [e["field"] for e in r.json()["errors"]]
    assert service.client.get(f"/events/{event['id']}").status_code == 404  # nothing recorded


def test_deep_json_is_a_400_and_records_nothing(service):
    body = b'{"type":"article.published","article":' + b"[" * 20_000 + b"]" * 20_000 + b"}"
    assert service.send(body, event_id="evt-deep").status_code == 400
    nested: list = []
    for _ in range(40):  # parses fine, but deeper than any event needs
        nested = [nested]
    shallow_but_deep = {"type": "article.published", "article": {"id": "x", "extra": nested}}
    assert service.send(shallow_but_deep, event_id="evt-deep-2").status_code == 400
    assert service.client.get("/events/evt-deep").status_code == 404


def test_c_cpp_and_csharp_are_three_feeds(service):
    event = seed(tags=["C", "C++", "C#"])
    assert service.send(event).status_code == 202
    service.event_done(event["id"])
    service.settle()
    for key in ("tag/c", "tag/c-plus-plus", "tag/c-sharp"):
        feed = feedparser.parse(service.feed(key).content)
        assert [c.term for c in feed.entries[0].tags if c.term.startswith("c")]
        assert feed.feed.title.endswith(
            {"tag/c": "C", "tag/c-plus-plus": "C++", "tag/c-sharp": "C#"}[key]
        )


def test_the_longest_accepted_share_composes_in_n_log_n_tweet_parses(monkeypatch):
    """Composition cost is bounded by construction: count the twitter-text parses."""

    calls = []
    real = share.parse_tweet
    monkeypatch.setattr(share, "parse_tweet", lambda text: calls.append(len(text)) or real(text))
    event = seed(title="長" * 1000, share={"hashtags": [f"tag{i:03d}" * 10 for i in range(10)]})
    article = Article.from_payload(event["article"])
    text = share.tweet_text(article)
    assert share.tweet_weight(text) <= 280
    assert len(calls) <= 40, len(calls)  # log2(1000) * 2 + hashtags' log: not 1000s


# 4. Retry discipline -----------------------------------------------------------------------------
def test_failing_facebook_lookups_count_and_a_retraction_never_posts(service, fakes):
    """The observed storm: a post whose answer was lost, lookups failing, then an unpublish,
    then lookups answering "no such post". Each lookup is an attempt; nothing is posted after
    the unpublish; the entry ends skipped with the reason."""
    feed_path = f"/v25.0/{FakeFacebook.PAGE}/feed"
    fakes.facebook.fail_path("POST", feed_path, "drop-before", times=1)  # sent, outcome unknown
    fakes.facebook.fail_path(
        "GET", feed_path, ("answer", 500, {}, b'{"error":{"code":2}}'), times=3
    )
    event = seed(share={"networks": ["facebook"]})
    assert service.send(event).status_code == 202
    wait_for(lambda: len(fakes.facebook.received("GET", feed_path)) >= 2, 20, "failing lookups")
    entry = service.client.get(f"/articles/{SEED_ID}").json()["shares"]["facebook"]
    assert entry["attempts"] >= 2  # the lookups counted
    unpublish(service, SEED_ID, "evt-gone")

    def closed():
        e = service.client.get(f"/articles/{SEED_ID}").json()["shares"]["facebook"]
        return e if e["state"] in ("skipped", "failed") else None

    entry = wait_for(closed, 30, "the entry to close")
    assert entry["state"] == "skipped" and "unpublished" in entry["reason"]
    assert len(fakes.facebook.received("POST", feed_path)) == 1  # only the lost one
    assert fakes.facebook.posts == {}
    gets = len(fakes.facebook.received("GET", feed_path))
    service.idle()  # nothing queued or scheduled: a storm would have something
    assert len(fakes.facebook.received("GET", feed_path)) == gets


def test_a_lookup_the_network_refuses_is_dead_lettered_not_stormed(service, fakes):
    gplus = "/plusDomains/v1/people/me/activities"
    fakes.googleplus.fail_path("POST", gplus, "drop-before", times=1)
    fakes.googleplus.fail_path("GET", gplus + "/user", ("answer", 404, {}, b'{"error":{}}'))
    event = seed(share={"networks": ["googleplus"]})
    assert service.send(event).status_code == 202

    def failed():
        e = (
            service.client.get(f"/articles/{SEED_ID}")
            .json()
            .get("shares", {})
            .get("googleplus", {})
        )
        return e if e.get("state") == "failed" else None

    entry = wait_for(failed, 20, "the G+ entry to fail")
    assert "could not check for an earlier post" in entry["last_error"]
    assert service.redis.zscore(keys.DEAD, f"delivery:{SEED_ID}:googleplus") is not None
    assert len(fakes.googleplus.received("GET")) == 1
    assert fakes.googleplus.activities == {}  # never posted blind


def test_a_delivery_gives_up_after_its_attempts_into_a_dead_letter(service, fakes):
    """The DELIVERY policy's last attempt: the entry fails with the reason and is dead-lettered."""

    fakes.twitter.fail_path("POST", "/2/tweets", ("answer", 503, {}, b"{}"))
    event = seed(share={"networks": ["twitter"]})
    assert service.send(event).status_code == 202
    wait_for(lambda: fakes.twitter.received("POST"), 10, "a first attempt")
    okey = keys.entry_key(SEED_ID, "twitter")
    service.redis.hset(okey, "attempts", DELIVERY.max_attempts)
    rt = configure(service.client.app.state.runtime.settings)
    wait_for(
        lambda: Delivery(rt, SEED_ID, "twitter").run("post") == "failed", 10, "the last attempt"
    )
    entry = service.client.get(f"/articles/{SEED_ID}").json()["shares"]["twitter"]
    assert entry["state"] == "failed" and "gave up after" in entry["last_error"]
    assert service.redis.zscore(keys.DEAD, f"delivery:{SEED_ID}:twitter") is not None


# 5. Secrets stay secret ----------------------------------------------------------------------------
def test_the_facebook_token_never_travels_in_a_url_nor_lands_in_an_error(service, fakes):
    fakes.facebook.fail_path("DELETE", "/v25.0/", "drop-before", times=1)
    event = seed(share={"networks": ["facebook"]})
    assert service.send(event).status_code == 202
    wait_for(lambda: fakes.facebook.posts, 15, "the post")
    update = load_fixture("seed-article-updated")
    assert service.send(update).status_code == 202
    wait_for(lambda: fakes.facebook.scrapes, 15, "the refresh")
    unpublish(service, SEED_ID, "evt-gone")
    wait_for(lambda: not fakes.facebook.posts, 20, "the delete after one dropped connection")
    assert fakes.facebook.tokens_in_urls == []
    dump = json.dumps(service.client.get(f"/articles/{SEED_ID}").json())
    assert FakeFacebook.TOKEN not in dump
    for key in service.redis.scan_iter(keys.PREFIX + "*"):
        if service.redis.type(key) == b"hash":
            assert FakeFacebook.TOKEN.encode() not in b"".join(service.redis.hvals(key))


def test_hub_credentials_are_used_for_pings_but_never_advertised(
    settings, settings_env, worker, fakes, clean_redis, tmp_path
):

    hub = fakes.hub.url.replace("http://", "http://ping:s3cret-hub-pass@") + "/"
    secret_settings = settings.with_(websub_hubs=(hub,))
    with TestClient(
        create_app(secret_settings), base_url="http://feeds.test", headers=OPERATOR
    ) as client:
        body = json.dumps(load_fixture("seed-article-published")).encode()
        event_id = load_fixture("seed-article-published")["id"]
        assert (
            client.post("/events", content=body, headers=signed_headers(event_id, body)).status_code
            == 202
        )
        wait_for(lambda: client.get("/feeds/all.atom").status_code == 200, 15, "the feed")
        for fmt in ("rss", "atom", "json"):
            r = client.get(f"/feeds/all.{fmt}")
            assert "s3cret-hub-pass" not in r.text and "s3cret-hub-pass" not in r.headers["link"]
            assert fakes.hub.url.removeprefix("http://") in r.headers["link"]
        assert "s3cret-hub-pass" not in client.get("/").text


def test_plain_log_lines_escape_control_characters_and_mask_secrets():

    register_secrets(["a-configured-token-value"])
    record = logging.LogRecord(
        "t",
        logging.INFO,
        __file__,
        1,
        "event %s from a-configured-token-value",
        ("x\nFAKE INFO forged",),
        None,
    )
    RedactSecrets().filter(record)
    line = PlainFormatter().format(record)
    assert "\n" not in line and "x\\nFAKE INFO forged" in line
    assert "a-configured-token-value" not in line


@pytest.mark.parametrize(
    "secret",
    [
        "whsec_" + "A" * 44,  # 33 zero bytes
        "whsec_" + "c2hvcnQtc2VjcmV0LTE2Yg==",  # 16 bytes
    ],
)
def test_weak_webhook_secrets_are_refused(settings_env, secret):
    result = run_cli(settings_env, "check", env={"SYNDICATE_WEBHOOK_SECRET": secret})
    assert result.returncode != 0
    assert "SYNDICATE_WEBHOOK_SECRET" in result.stderr


def test_event_bodies_expire_after_the_retention(service):
    event = load_fixture("seed-article-published")
    assert service.send(event).status_code == 202
    ttl = service.redis.ttl(keys.event_key(event["id"]))
    assert 29 * 86400 < ttl <= 30 * 86400
    assert service.send(event).status_code == 200  # dedup holds within the window


# 6. Only feeds are public --------------------------------------------------------------------------
OPERATOR_ONLY = [
    "/",
    f"/status/articles/{SEED_ID}",
    f"/articles/{SEED_ID}",
    "/events/x",
    "/metrics",
    "/openapi.json",
]
PUBLIC = ["/feeds/all.rss", "/feeds.opml", f"/articles/{SEED_ID}/share-links", "/healthz"]


def test_a_stranger_reads_only_the_public_list(service):
    event = load_fixture("seed-article-published")
    assert service.send(event).status_code == 202
    service.event_done(event["id"])
    service.settle()
    stranger = service.anonymous
    for path in OPERATOR_ONLY:
        r = stranger.get(path, follow_redirects=False)
        assert r.status_code in (401, 303), (path, r.status_code)
        assert event["article"]["title"] not in r.text
        if r.status_code == 303:
            assert r.headers["location"].startswith("/login")
    bad = {"Authorization": "Bearer not-the-token-at-all-0123456789"}
    for path in OPERATOR_ONLY[2:]:
        assert stranger.get(path, headers=bad).status_code == 401
    for path in PUBLIC:
        assert stranger.get(path).status_code == 200, path
    ready = stranger.get("/readyz")
    assert set(ready.json()) == {"ready"}  # the status for load balancers, no details
    assert "redis" in service.client.get("/readyz").json()


def test_login_gives_a_session_cookie_and_html_carries_security_headers(service):
    stranger = service.anonymous
    page = stranger.get("/login")
    assert page.status_code == 200
    for response in (page, service.client.get("/")):
        headers = response.headers
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert "default-src 'none'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
    assert stranger.post("/login", data={"token": "wrong"}).status_code == 401
    r = stranger.post(
        "/login?next=//evil.example/", data={"token": ADMIN_TOKEN}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == "/"  # no open redirect
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert stranger.get("/").status_code == 200  # the cookie now
    csrf = (
        html.fromstring(stranger.get("/").content)
        .get_element_by_id("signout")
        .find(".//input[@name='csrf']")
        .get("value")
    )
    stranger.post("/logout", data={"csrf": csrf})  # a form on the status page (CSRF field)
    assert stranger.get("/", follow_redirects=False).status_code == 303


# 7. Retraction means gone --------------------------------------------------------------------------
def test_after_an_unpublish_no_endpoint_serves_the_body(service):
    event = load_fixture("seed-article-published")
    assert service.send(event).status_code == 202
    service.event_done(event["id"])
    unpublish(service, SEED_ID, "evt-gone")
    service.settle()
    body_marker = event["article"]["body_html"][10:60]
    record = service.client.get(f"/articles/{SEED_ID}").json()
    assert record["state"] == "unpublished" and record["article"] is None
    for path in (
        f"/articles/{SEED_ID}",
        f"/status/articles/{SEED_ID}",
        f"/events/{event['id']}",
        "/feeds/all.rss",
        "/feeds/all.atom",
        "/feeds/all.json",
        f"/articles/{SEED_ID}/share-links",
    ):
        assert body_marker not in service.client.get(path).text, path
    assert event["article"]["title"] in service.client.get(f"/status/articles/{SEED_ID}").text


def test_purge_removes_every_trace_and_leaves_an_audit_record(service, settings_env, fakes):
    event = load_fixture("seed-article-published")
    assert service.send(event).status_code == 202
    service.event_done(event["id"])
    wait_for(lambda: fakes.twitter.posts, 15, "the tweet")
    service.settle()
    result = run_cli(settings_env, "purge", SEED_ID, "--yes")
    assert result.returncode == 0, result.stderr
    assert "audit record kept" in result.stdout
    for fmt in ("rss", "atom", "json"):
        assert event["article"]["title"] not in service.feed("all", fmt).text
    assert service.client.get(f"/events/{event['id']}").status_code == 404
    record = service.client.get(f"/articles/{SEED_ID}").json()
    assert record["state"] == "purged" and record["article"] is None
    dump = b"".join(
        v
        for key in service.redis.scan_iter(keys.PREFIX + "*")
        if service.redis.type(key) == b"hash"
        for v in service.redis.hvals(key)
    )
    assert event["article"]["title"].encode() not in dump
    assert event["article"]["url"].encode() not in dump
    wait_for(lambda: not fakes.twitter.posts, 15, "the tweet deleted")
    audit = json.loads(service.redis.lindex(keys.AUDIT, 0))
    assert audit["action"] == "purge" and audit["article_id"] == SEED_ID
    # A late copy of the same publish event cannot bring it back or share it again.
    late = copy.deepcopy(event)
    late["id"] = "evt-late-copy"
    assert service.send(late).status_code == 202
    assert service.event_done("evt-late-copy")["result"]["outcome"] == "purged"
    assert run_cli(settings_env, "purge", "no-such-article", "--yes").returncode == 1


# 8. HTTP limits, through the real server -----------------------------------------------------------
def test_the_http_server_bounds_heads_slow_senders_and_idle_connections(settings):
    with api_process(
        settings, extra_env={"SYNDICATE_HEADER_TIMEOUT": "2", "SYNDICATE_IDLE_TIMEOUT": "1"}
    ) as base:
        port = int(base.rsplit(":", 1)[1])

        def connect() -> socket.socket:
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            return s

        s = connect()
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 431")
        s = connect()  # an unfinished 64 MB head is cut off after the limit
        s.sendall(b"GET /healthz HTTP/1.1\r\nX-Big: ")
        with pytest.raises(OSError):
            for _ in range(64):
                s.sendall(b"b" * 1024 * 1024)
        s = connect()  # byte at a time: closed after the head timeout
        s.sendall(b"GET /healthz HTTP/1.1\r\n")
        started = time.monotonic()
        with pytest.raises(OSError):
            while time.monotonic() - started < 8:
                s.sendall(b"X")
                time.sleep(0.2)
        assert time.monotonic() - started < 6
        s = connect()  # silent: closed after the head timeout
        assert s.recv(100) == b""
        s = connect()  # idle after a response: closed after the idle timeout
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while b'"ok"' not in answer:
            answer += s.recv(1000)
        assert answer.startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        assert s.recv(100) == b"" and time.monotonic() - started < 5
        assert requests.get(base + "/healthz", timeout=5).status_code == 200


# 5 (files) and `run`'s banner ------------------------------------------------------------------------
def test_run_keeps_its_data_dir_owner_only_and_prints_a_secret_only_once(tmp_path, settings_env):

    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATE_")}
    env["SYNDICATE_DATA_DIR"] = str(data)

    def start_and_stop() -> str:
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli", "run", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for(lambda: _answers(port), 90, "syndicate run")
        finally:
            proc.send_signal(signal.SIGTERM)
            out = proc.communicate(timeout=30)[0].decode()
        return out

    first = start_and_stop()
    secret = (data / "webhook-secret").read_text().strip()
    token = (data / "admin-token").read_text().strip()
    assert secret in first and f"#token={token}" in first
    second = start_and_stop()
    assert secret not in second and token not in second
    assert "kept in" in second
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for path in data.rglob("*"):
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path


def _answers(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except requests.ConnectionError:
        return False


def test_the_inline_style_of_each_page_is_the_one_the_csp_allows(service):
    """A style the CSP does not allow is dropped by browsers: the page would lose its layout."""
    import base64
    import hashlib
    import re as re_

    publish(service, "seed-article-published")
    for client, path in (
        (service.client, "/"),
        (service.client, f"/status/articles/{SEED_ID}"),
        (service.anonymous, "/login"),
        (service.anonymous, "/feeds/tag/nato"),
        (service.anonymous, "/feeds/"),
    ):
        r = client.get(path)
        style = re_.search(r"<style>(.*?)</style>", r.text, re_.S).group(1)
        digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in r.headers["content-security-policy"], path


def test_the_login_and_retry_forms_read_bounded_bodies(service):
    huge = b"token=" + b"a" * 2_000_000
    r = service.anonymous.post(
        "/login", content=huge, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert r.status_code == 400
    r = service.client.post(
        "/status/retry", content=huge, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert r.status_code == 403  # no valid token in an oversized form
