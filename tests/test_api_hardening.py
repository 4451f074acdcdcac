"""Issue #20, the API's part: the index and the OPML built once per change (off the event loop,
strong ETag, public caching, paginated, bounded), the body cache bounded in bytes, the session
cookie `Secure` behind the trusted proxies, sign-in limits, `POST /logout` revoking the session,
weak tokens refused, and `nosniff` on every feed response. Through the real service (real Redis,
real worker) over ASGI, and the real `syndicate api` where the proxy headers matter."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import socket
import xml.etree.ElementTree as ET

import pytest
from lxml import html
from starlette.testclient import TestClient

from api import catalogue, serving
from api.app import create_app
from syndicate.config import ConfigError, Settings
from tests.support import ADMIN_TOKEN, PUBLIC_URL, SECRET, api_process, publish, run_cli
from worker.store import keys


def _catalogue(service, count: int) -> list[str]:
    """`count` tag feeds with one item each, plus `all` and two sections, written straight into
    the store (what renders would leave), without waiting for thousands of renders."""
    store = service.client.app.state.runtime.store
    feed_keys = [
        "all",
        "section/news",
        "section/news/world",
        *(f"tag/t{i:04d}" for i in range(count)),
    ]
    pipe = service.redis.pipeline(transaction=False)
    for key in feed_keys:
        pipe.sadd(keys.FEEDS, key)
        pipe.zadd(keys.items_key(key), {"some-article": 1})
    pipe.execute()
    for key in feed_keys:
        store.feeds.save(
            key,
            1,
            {"rss": b"<rss/>", "atom": b"<feed/>", "json": b"{}"},
            1,
            title=f"Title of {key}",
        )
    return feed_keys


def _rows(response) -> list[str]:
    doc = html.fromstring(response.content)
    return [
        tr.find("td/a").text
        for tr in doc.get_element_by_id("feeds").iter("tr")
        if tr.find("td") is not None
    ]


# Item 6: the index and the OPML ----------------------------------------------------------------
def test_index_and_opml_are_built_once_per_change_off_the_loop_with_etags(service, monkeypatch):
    publish(service, "seed-article-published")
    made_on_loop = []
    real = catalogue._opml_bytes

    def watched(*args):
        try:
            asyncio.get_running_loop()
            made_on_loop.append(True)
        except RuntimeError:  # a worker thread: no event loop here
            made_on_loop.append(False)
        return real(*args)

    monkeypatch.setattr(catalogue, "_opml_bytes", watched)
    app = service.anonymous.app
    for path in ("/feeds/", "/feeds.opml"):
        r = service.anonymous.get(path)
        assert r.status_code == 200, path
        assert r.headers["cache-control"] == "public, max-age=60", path
        assert r.headers["etag"].startswith('"') and not r.headers["etag"].startswith("W/"), path
        assert r.headers["x-content-type-options"] == "nosniff", path
        again = service.anonymous.get(path, headers={"If-None-Match": r.headers["etag"]})
        assert again.status_code == 304 and again.content == b"", path
        assert again.headers["etag"] == r.headers["etag"]
        assert again.headers["x-content-type-options"] == "nosniff"
    for _ in range(5):
        service.anonymous.get("/feeds.opml")
        service.anonymous.get("/feeds/")
    assert app.state.catalogue.builds == 1
    assert made_on_loop == [False]
    first = service.anonymous.get("/feeds.opml").headers["etag"]

    # A render that changes nothing in the listing: one more build, the same bytes and ETag.
    service.rerender("all")
    assert service.anonymous.get("/feeds.opml").headers["etag"] == first
    assert app.state.catalogue.builds == 2
    # A new feed: a new OPML.
    publish(service, "audio-programme-published")
    r = service.anonymous.get("/feeds.opml", headers={"If-None-Match": first})
    assert r.status_code == 200 and r.headers["etag"] != first
    assert "http://feeds.test/feeds/audio.rss" in r.text
    assert app.state.catalogue.builds == 3 and made_on_loop == [False] * 3


def test_the_index_is_paginated_and_the_opml_bounded(service):
    feed_keys = _catalogue(service, 640)
    pages = -(-len(feed_keys) // catalogue.INDEX_PAGE_SIZE)
    first = service.anonymous.get("/feeds/")
    assert first.status_code == 200
    assert len(_rows(first)) == catalogue.INDEX_PAGE_SIZE
    assert 'href="?page=2"' in first.text
    seen = []
    for page in range(1, pages + 1):
        r = service.anonymous.get(f"/feeds/?page={page}")
        assert r.status_code == 200, page
        seen += _rows(r)
    assert seen == [f"Title of {key}" for key in sorted(feed_keys)]
    assert service.anonymous.get(f"/feeds/?page={pages + 1}").status_code == 404
    for garbage in ("0", "-1", "abc", "1e3", "", "01", "9" * 40, "2%00"):
        r = service.anonymous.get(f"/feeds/?page={garbage}")
        assert r.status_code == 400, garbage
    head = service.anonymous.head("/feeds/?page=2")
    assert head.status_code == 200 and head.headers["etag"]

    r = service.anonymous.get("/feeds.opml")
    urls = [o.get("xmlUrl") for o in ET.fromstring(r.content).iter("outline")]
    assert len(urls) == 3 * catalogue.OPML_MAX_FEEDS
    for key in ("all", "section/news", "section/news/world"):
        assert f"http://feeds.test/feeds/{key}.rss" in urls
    assert len(r.content) < 400_000


# Item 7: the body cache in bytes -------------------------------------------------------------
def test_the_body_cache_stays_under_its_byte_bound(service, settings):
    app = create_app(settings.with_(body_cache_mb=1))
    store = app.state.runtime.store
    feed_keys = [f"tag/big-{i}" for i in range(12)]
    for key in feed_keys:  # ~200 KB a format, half-compressible: ~7 MB with the gzip copies
        bodies = {fmt: os.urandom(50_000).hex().encode() for fmt in ("rss", "atom", "json")}
        store.feeds.save(key, 1, bodies, 1, title=key)
    served = 0
    with TestClient(app, base_url=PUBLIC_URL) as client:
        for _ in range(2):
            for key in feed_keys:
                for fmt in ("rss", "atom", "json"):
                    for encoding in ("gzip", "identity"):
                        r = client.get(f"/feeds/{key}.{fmt}", headers={"Accept-Encoding": encoding})
                        assert r.status_code == 200
                        served += len(r.content)
    cache = app.state.body_cache
    assert served > 10 * 2**20
    assert cache.max_bytes == 2**20
    assert 0 < cache.size_bytes <= 2**20
    assert (
        app.state.empty_feeds.currsize <= app.state.empty_feeds.maxsize == serving.EMPTY_FEEDS_BYTES
    )


# Item 9: Secure behind the proxies -------------------------------------------------------------
def test_the_session_cookie_is_secure_whenever_the_public_url_is_https(service, settings):
    app = create_app(settings.with_(public_url="https://feeds.test"))
    with TestClient(app, base_url="http://feeds.test") as client:  # TLS ended by a proxy
        r = client.post("/login", data={"token": ADMIN_TOKEN}, follow_redirects=False)
    assert r.status_code == 303
    assert "secure" in [part.strip().lower() for part in r.headers["set-cookie"].split(";")]


def _raw(
    port: int, source: str, path: str, headers: dict[str, str], body: bytes = b""
) -> tuple[int, str]:
    """One request from the loopback address `source` (a proxy of its own address)."""
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = (
        f"POST {path} HTTP/1.1\r\nHost: feeds.test\r\nConnection: close\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n{head}\r\n"
    ).encode() + body
    with socket.create_connection(
        ("127.0.0.1", port), timeout=10, source_address=(source, 0)
    ) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head_text = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    return int(head_text.split(" ", 2)[1]), head_text.lower()


def test_forwarded_headers_are_believed_from_the_trusted_proxies_only(service, settings):
    with api_process(settings, {"SYNDICATE_TRUSTED_PROXIES": "127.0.0.2, 10.0.0.0/8"}) as base:
        port = int(base.rsplit(":", 1)[1])
        forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
        good = b"token=" + ADMIN_TOKEN.encode()
        # A trusted proxy says https: the cookie is Secure. Another address says so: it is not.
        status, head = _raw(port, "127.0.0.2", "/login", forwarded, good)
        assert status == 303 and "; secure" in head
        status, head = _raw(port, "127.0.0.3", "/login", forwarded, good)
        assert status == 303 and "set-cookie" in head and "; secure" not in head
        # The sign-in limits count the client the trusted proxy names.
        for _ in range(10):
            assert _raw(port, "127.0.0.2", "/login", forwarded, b"token=wrong")[0] == 401
        status, head = _raw(port, "127.0.0.2", "/login", forwarded, good)
        assert status == 429 and "retry-after:" in head
        other = {**forwarded, "X-Forwarded-For": "203.0.113.8"}
        assert _raw(port, "127.0.0.2", "/login", other, b"token=wrong")[0] == 401
        # An untrusted peer's X-Forwarded-For is its own word: it is counted as itself.
        assert _raw(port, "127.0.0.3", "/login", forwarded, b"token=wrong")[0] == 401


def test_trusted_proxies_must_be_addresses_or_networks(settings_env):
    env = {**settings_env, "SYNDICATE_TRUSTED_PROXIES": "10.0.0.0/8, ::1,172.16.0.0/12"}
    assert Settings.from_env(env).trusted_proxies == ("10.0.0.0/8", "::1", "172.16.0.0/12")
    assert Settings.from_env(settings_env).trusted_proxies == ("127.0.0.1", "::1")
    for bad in ("*", "proxy.example", "10.0.0.0/33"):
        with pytest.raises(ConfigError, match="SYNDICATE_TRUSTED_PROXIES"):
            Settings.from_env({**settings_env, "SYNDICATE_TRUSTED_PROXIES": bad})


# Low items --------------------------------------------------------------------------------------
def test_failed_sign_ins_are_limited_per_address_and_in_all(service):
    stranger = service.anonymous
    for _ in range(10):
        assert stranger.post("/login", data={"token": "wrong"}).status_code == 401
    r = stranger.post("/login", data={"token": ADMIN_TOKEN}, follow_redirects=False)
    assert r.status_code == 429
    assert 0 < int(r.headers["retry-after"]) <= 300
    assert "Too many sign-in attempts" in r.text
    assert service.client.get("/").status_code == 200  # the Bearer header is not limited
    app = service.anonymous.app
    service.redis.delete(keys.LOGIN_FAILURES)
    # From many addresses: after 100 failures in all, nobody signs in for the window.
    for n in range(20):
        with TestClient(app, base_url=PUBLIC_URL, client=(f"198.51.100.{n}", 4000)) as c:
            for _ in range(5):
                assert c.post("/login", data={"token": "wrong"}).status_code == 401
    with TestClient(app, base_url=PUBLIC_URL, client=("198.51.100.200", 4000)) as c:
        r = c.post("/login", data={"token": ADMIN_TOKEN}, follow_redirects=False)
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0


def test_logout_is_a_post_with_csrf_and_revokes_the_session(service):
    stranger = service.anonymous
    r = stranger.post("/login", data={"token": ADMIN_TOKEN}, follow_redirects=False)
    assert r.status_code == 303
    cookie = stranger.cookies["syndicate_session"]
    sessions = list(service.redis.scan_iter(keys.session_key("*")))
    assert len(sessions) == 1 and 11 * 3600 < service.redis.ttl(sessions[0]) <= 12 * 3600
    page = html.fromstring(stranger.get("/").content)
    form = page.get_element_by_id("signout")
    assert form.get("method") == "post" and form.get("action") == "/logout"
    csrf = form.find(".//input[@name='csrf']").get("value")

    assert stranger.get("/logout", follow_redirects=False).status_code == 405
    assert stranger.post("/logout", data={"csrf": "forged"}).status_code == 403
    assert stranger.get("/", follow_redirects=False).status_code == 200  # still signed in
    r = stranger.post("/logout", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert not list(service.redis.scan_iter(keys.session_key("*")))
    # The cookie itself, kept by someone (a copy, another tab), is refused from now on.
    with TestClient(
        service.anonymous.app, base_url=PUBLIC_URL, cookies={"syndicate_session": cookie}
    ) as copy:
        assert copy.get("/", follow_redirects=False).status_code == 303
        assert copy.get("/metrics").status_code == 401


WEAK_TOKENS = [
    "abcdefgh" * 3,
    "Xy7#kP2q9Lm!" * 3,
    "a1b2c3d4e5" * 3,
    "abcdefghijklmnopqrstuvwxyz",
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
]


@pytest.mark.parametrize("token", WEAK_TOKENS)
def test_low_entropy_admin_tokens_are_refused(settings_env, token):
    with pytest.raises(ConfigError, match="SYNDICATE_ADMIN_TOKEN: .*not random"):
        Settings.from_env({**settings_env, "SYNDICATE_ADMIN_TOKEN": token})


@pytest.mark.parametrize("key", [b"abcdefgh" * 4, bytes(range(32)), b"0123456789abcdef" * 2])
def test_low_entropy_webhook_secrets_are_refused(settings_env, key):
    secret = "whsec_" + base64.b64encode(key).decode()
    with pytest.raises(ConfigError, match="SYNDICATE_WEBHOOK_SECRET: .*not random"):
        Settings.from_env({**settings_env, "SYNDICATE_WEBHOOK_SECRET": secret})


def test_random_tokens_and_the_test_tokens_pass(settings_env):
    for _ in range(200):
        Settings.from_env(
            {
                **settings_env,
                "SYNDICATE_ADMIN_TOKEN": secrets.token_urlsafe(32),
                "SYNDICATE_WEBHOOK_SECRET": "whsec_"
                + base64.b64encode(secrets.token_bytes(32)).decode(),
            }
        )
    for token in (
        ADMIN_TOKEN,
        "3f9a1c07be5d48e2a6c0f1d39b7e2a54",
        "6c1e0b7f93a2d845e07c5b1f29d3a68b04e7c92f1b5a3d86",
    ):
        assert (
            Settings.from_env(
                {**settings_env, "SYNDICATE_ADMIN_TOKEN": token, "SYNDICATE_WEBHOOK_SECRET": SECRET}
            ).admin_token
            == token
        )


def test_the_service_refuses_to_start_with_a_repeated_token(settings_env):
    result = run_cli(settings_env, "check", env={"SYNDICATE_ADMIN_TOKEN": "abcdefgh" * 3})
    assert result.returncode != 0
    assert "SYNDICATE_ADMIN_TOKEN" in result.stderr and "abcdefgh" not in result.stderr


def test_every_feed_response_says_nosniff(service):
    publish(service, "seed-article-published")
    client = service.anonymous
    responses = []
    for fmt in ("rss", "atom", "json"):
        r = client.get(f"/feeds/all.{fmt}")
        responses += [
            r,
            client.get(f"/feeds/all.{fmt}", headers={"Accept-Encoding": "gzip"}),
            client.head(f"/feeds/all.{fmt}"),
            client.get(f"/feeds/all.{fmt}", headers={"If-None-Match": r.headers["etag"]}),
        ]
    assert responses[3].status_code == 304
    responses += [
        client.get("/feeds/audio.rss"),  # known, nothing rendered: an empty feed
        client.get("/feeds/tag/never-used.rss"),
        client.get("/feeds/style.xsl"),
        client.get("/feeds.opml"),
        client.get("/feeds/"),
        client.get("/feeds/tag/nato"),
    ]
    for r in responses:
        assert r.headers.get("x-content-type-options") == "nosniff", (r.url, r.status_code)
