"""Our own WebSub hub (CONTRACT §8, issue #24 item 1), against real parts: a subscriber that
follows the W3C WebSub Recommendation to the letter (Link-header discovery, §5.1 request, §5.3
echo, §7 distribution with the signature checked by `hmac.compare_digest`; websub.rocks hub tests
100-106 are the model) on its own loopback port, against one real `syndicate run` with the hub on
(module-scoped; the last of its tests restarts it on the same data directory). The edge's
validation and bounds: on the session's service, with an app of their own that has the hub on.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import feedparser
import pytest
import redis
import requests
from starlette.testclient import TestClient

from api import hub as edge
from tests.support import OPERATOR, PUBLIC_URL, Run, load_fixture, post_event, wait_for
from worker.store import keys
from worker.store.subscriptions import Subscriptions, subscription_id


@dataclass
class Received:  # a distribution whose X-Hub-Signature matched (or that needed none)
    at: float
    body: bytes
    headers: dict[str, str]


@dataclass
class Subscriber:
    """One callback URL on its own loopback port (its query string must come back intact)."""

    secret: str = ""
    wrong_echo: bool = False
    answers: list[int] = field(default_factory=list)  # POST answers to give first, then 204
    pending: set[tuple[str, str]] = field(default_factory=set)  # (mode, topic) asked for
    verifications: list[dict[str, list[str]]] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    attempts: list[float] = field(default_factory=list)  # every POST, answered or failed
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, port: int = 0) -> Subscriber:
        sub = self  # the handler's view of it

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: bytes = b"") -> None:
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # §5.3 verification of intent
                query = parse_qs(urlsplit(self.path).query)
                sub.verifications.append(query)
                mode, topic = query.get("hub.mode", [""])[0], query.get("hub.topic", [""])[0]
                challenge = query.get("hub.challenge", [""])[0]
                asked = (mode, topic) in sub.pending and query.get("token") == ["abc"]
                if mode == "subscribe" and not query.get("hub.lease_seconds"):
                    asked = False  # §5.3: REQUIRED when subscribing
                if not asked or not challenge:
                    self._answer(404)
                    return
                sub.pending.discard((mode, topic))
                self._answer(200, (challenge + "x" if sub.wrong_echo else challenge).encode())

            def do_POST(self) -> None:  # §7 content distribution
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                now = time.time()
                headers = {k.lower(): v for k, v in self.headers.items()}
                signed = True
                if sub.secret:  # §7.1: verify, ignore a message that does not match
                    method, _, digest = headers.get("x-hub-signature", "").partition("=")
                    expected = hmac.new(sub.secret.encode(), body, hashlib.sha256).hexdigest()
                    signed = method == "sha256" and hmac.compare_digest(digest, expected)
                with sub.lock:
                    sub.attempts.append(now)
                    status = sub.answers.pop(0) if sub.answers else 204
                    if 200 <= status < 300 and signed:
                        sub.received.append(Received(now, body, headers))
                self._answer(status)

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.callback = f"http://127.0.0.1:{self.port}/websub/callback?token=abc"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown(), self.server.server_close()

    def discover(self, url: str) -> tuple[str, str]:
        """§4: the hub and self URLs from the Link header of a GET."""
        r = requests.get(url, timeout=5)
        assert r.status_code == 200
        return r.links["hub"]["url"], r.links["self"]["url"]

    def request(self, hub: str, topic: str, mode: str = "subscribe", **extra: str) -> int:
        self.pending.add((mode, topic))
        form = {"hub.mode": mode, "hub.topic": topic, "hub.callback": self.callback, **extra}
        if self.secret and mode == "subscribe":
            form["hub.secret"] = self.secret
        return requests.post(hub, data=form, timeout=5).status_code


HUB_ENV = {
    "SYNDICATE_WEBSUB_HUB": "on",
    "SYNDICATE_ALLOW_PRIVATE_ADDRESSES": "on",
    "SYNDICATE_RETRY_BASE_MS": "200",
    "SYNDICATE_HTTP_TIMEOUT": "2",
    "SYNDICATE_RENDER_INTERVAL_MS": "0",
}


class Service:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.run = Run(tmp, HUB_ENV)
        self.run.wait_up()
        self.published = 0

    base = property(lambda self: self.run.base)

    def redis(self) -> redis.Redis:
        folder = self.run.data.resolve() / "redis"
        return redis.Redis(
            unix_socket_path=str(folder / "redis.sock"),
            socket_timeout=5,
            password=(folder / "password").read_text().strip(),
        )

    def restart(self) -> None:
        self.run.stop()
        self.run = Run(self.tmp, HUB_ENV, port=self.run.port)
        self.run.wait_up()

    def publish(self, tag: str) -> None:
        """A new article in the tag's feed: a new version of its bytes."""
        self.published += 1
        event = load_fixture("seed-article-published")
        n = self.published
        event["id"] = f"evt-hub-{n}"
        article = event["article"]
        article.update(
            id=f"hub-{n}",
            tags=[tag],
            title=f"Hub story {n}",
            published_at=f"2024-01-01T00:{n // 60:02d}:{n % 60:02d}Z",
        )
        article.pop("share", None)
        assert post_event(self.base, event) == 202

    def topic(self, tag: str, fmt: str = "atom") -> str:
        return f"{self.base}/feeds/tag/{tag}.{fmt}"

    def rendered_at(self, tag: str) -> float:
        return float(self.redis().hget(keys.meta_key(f"tag/{tag}"), "rendered_at") or 0)

    def subscribed(self, sub: Subscriber, topic: str) -> bool:
        return bool(self.redis().exists(keys.sub_key(subscription_id(topic, sub.callback))))


@pytest.fixture(scope="module")
def hub_service(tmp_path_factory: pytest.TempPathFactory) -> Any:
    service = Service(tmp_path_factory.mktemp("hub"))
    yield service
    service.run.stop()


@pytest.fixture
def subscribers() -> Any:
    started: list[Subscriber] = []

    def make(**kw: Any) -> Subscriber:
        started.append(Subscriber(**kw).start())
        return started[-1]

    yield make
    [sub.stop() for sub in started]


def subscribe(svc: Service, sub: Subscriber, tag: str) -> str:
    """Discover the hub from the feed and subscribe; wait until the hub verified it."""
    hub, topic = sub.discover(svc.topic(tag))
    assert hub == f"{svc.base}/hub" and topic == svc.topic(tag)
    assert sub.request(hub, topic) == 202
    wait_for(lambda: svc.subscribed(sub, topic), 10, "the subscription to be verified")
    return topic


def items(body: bytes) -> int:
    return len(feedparser.parse(body).entries)


def first_version(svc: Service, tag: str) -> None:
    svc.publish(tag)  # the feed exists
    wait_for(lambda: svc.rendered_at(tag), 10, "the first render")


def test_a_subscriber_gets_each_new_version_signed_within_a_second(hub_service, subscribers):
    svc = hub_service
    first_version(svc, "hubfirst")
    sub = subscribers(secret="s3cret-of-the-subscriber")
    topic = subscribe(svc, sub, "hubfirst")
    check = sub.verifications[-1]
    assert check["hub.mode"] == ["subscribe"] and check["hub.topic"] == [topic]
    assert check["token"] == ["abc"] and int(check["hub.lease_seconds"][0]) == 10 * 86400
    for version in (2, 3):
        svc.publish("hubfirst")
        wait_for(lambda v=version: len(sub.received) >= v - 1, 10, f"version {version}")
        got = sub.received[-1]
        assert got.headers["x-hub-signature"].startswith("sha256=")
        assert got.at - svc.rendered_at("hubfirst") < 1.0  # and signed, or not received
        assert items(got.body) == version
        assert got.body == requests.get(topic, timeout=5).content  # the full current body
        assert got.headers["content-type"].startswith("application/atom+xml")
        links = requests.utils.parse_header_links(got.headers["link"])
        assert {(x["rel"], x["url"]) for x in links} == {
            ("hub", f"{svc.base}/hub"),
            ("self", topic),
        }


def test_a_wrong_echo_subscribes_nobody_and_an_unserved_topic_is_refused(hub_service, subscribers):
    svc = hub_service
    first_version(svc, "hubecho")
    wrong = subscribers(wrong_echo=True)
    hub, topic = wrong.discover(svc.topic("hubecho"))
    assert wrong.request(hub, topic) == 202
    wait_for(lambda: wrong.verifications, 10, "the verification")
    time.sleep(0.3)
    assert not svc.subscribed(wrong, topic)
    # topics we do not serve: refused at once, the callback never called
    other = subscribers()
    assert other.request(hub, svc.topic("never-published")) == 404
    assert other.request(hub, "https://elsewhere.example/feeds/tag/x.atom") == 400
    assert other.request(hub, f"{svc.base}/feeds/tag/hubecho.xml") == 400
    svc.publish("hubecho")
    wait_for(lambda: items(requests.get(topic, timeout=5).content) == 2, 10, "version 2")
    time.sleep(0.5)
    assert wrong.attempts == [] and other.verifications == []


def test_unsubscribe_lease_expiry_and_410_end_deliveries(hub_service, subscribers):
    svc = hub_service
    first_version(svc, "hubend")
    control, leaving, expiring, gone = (subscribers() for _ in range(4))
    gone.answers = [410]
    topic = ""
    for sub in (control, leaving, expiring, gone):
        topic = subscribe(svc, sub, "hubend")
    assert leaving.request(f"{svc.base}/hub", topic, mode="unsubscribe") == 202
    wait_for(lambda: not svc.subscribed(leaving, topic), 10, "the unsubscription")
    assert leaving.verifications[-1]["hub.mode"] == ["unsubscribe"]
    r = svc.redis()  # the lease of `expiring` ends now
    sid, past = subscription_id(topic, expiring.callback), time.time() - 1
    r.zadd(keys.HUB_SUBS, {sid: past})
    r.zadd(keys.feed_subs_key("tag/hubend"), {sid: past})
    r.hset(keys.sub_key(sid), "expires_at", past)
    svc.publish("hubend")
    wait_for(lambda: control.received and gone.attempts, 10, "deliveries")
    wait_for(lambda: not svc.subscribed(gone, topic), 10, "410 to end the subscription")
    svc.publish("hubend")
    wait_for(lambda: len(control.received) == 2, 10, "the next version")
    time.sleep(0.5)
    assert leaving.attempts == [] and expiring.attempts == [] and len(gone.attempts) == 1
    assert control.request(f"{svc.base}/hub", topic) == 202  # a renewal; purges ended leases
    assert not svc.subscribed(expiring, topic)


def test_a_failing_subscriber_is_retried_with_backoff_and_never_delays_another(
    hub_service, subscribers
):
    svc = hub_service
    first_version(svc, "hubfail")
    failing, healthy = subscribers(secret="f"), subscribers(secret="h")
    failing.answers = [500, 500, 500, 500]
    topic = ""
    for sub in (failing, healthy):
        topic = subscribe(svc, sub, "hubfail")
    svc.publish("hubfail")
    wait_for(lambda: healthy.received, 10, "the healthy subscriber")
    assert healthy.received[0].at - svc.rendered_at("hubfail") < 1.0
    wait_for(lambda: failing.received, 20, "the failing subscriber, once it recovers")
    gaps = [b - a for a, b in zip(failing.attempts, failing.attempts[1:])]
    assert len(failing.attempts) == 5 and sum(gaps) >= 0.6, gaps  # 0.1 + 0.2 + 0.4 + 0.8 at least/2
    assert gaps[-1] > gaps[0]
    assert failing.received[0].body == healthy.received[0].body
    # status, `status --json` and /metrics show the hub
    status = json.loads(svc.run.cli("status", "--json").stdout)
    assert dict(status["hub"]["topics"])[topic] == 2
    assert status["hub"]["counts"]["failed"] >= 4 and status["hub"]["counts"]["delivered"] >= 2
    assert "secret" not in json.dumps(status["hub"]) and failing.callback not in json.dumps(status)
    metrics = requests.get(f"{svc.base}/metrics", headers=OPERATOR, timeout=5).text
    assert (
        "syndicate_hub_subscriptions" in metrics
        and 'syndicate_hub_total{outcome="failed"}' in metrics
    )
    page = requests.get(f"{svc.base}/", headers=OPERATOR, timeout=5).text
    assert "Our hub" in page and topic in page
    assert "own hub" in svc.run.cli("check").stdout


def test_subscriptions_survive_a_restart(hub_service, subscribers):
    """The issue's "done when": a subscriber on another port, a tag feed, each new version
    signed within a second of the render, through failures and a restart."""
    svc = hub_service
    first_version(svc, "hubdone")
    sub = subscribers(secret="done-secret")
    sub.answers = [503]
    subscribe(svc, sub, "hubdone")
    svc.publish("hubdone")
    wait_for(lambda: sub.received, 20, "the version after a failure")
    svc.restart()
    svc.publish("hubdone")
    wait_for(lambda: len(sub.received) == 2, 20, "the version after the restart")
    assert sub.received[-1].at - svc.rendered_at("hubdone") < 1.0  # signed: received
    assert [items(r.body) for r in sub.received] == [2, 3]


# The edge: validation and bounds (no callback is ever called here) ----------------------------
@pytest.mark.parametrize(
    "callback",
    [
        "http://127.0.0.1:9/cb",
        "http://localhost/cb",
        "http://[::1]/cb",
        "http://10.0.0.1/cb",
        "http://169.254.169.254/latest",
        "http://0x7f000001/cb",
        "http://a.localhost/cb",
    ],
)
def test_local_callbacks_are_refused_unless_allowed(callback):
    assert isinstance(edge.callback_problem(callback, allow_private=False), str)
    assert not isinstance(edge.callback_problem(callback, allow_private=True), str)


@pytest.mark.parametrize(
    "callback",
    [
        "ftp://sub.example/cb",
        "https://user:pw@sub.example/cb",
        "https://sub.example/cb#x",
        "https:///cb",
        "https://sub.example\\@127.0.0.1/",
        "https://sub.example/a b",
    ],
)
def test_malformed_callbacks_are_refused(callback):  # whatever ALLOW_PRIVATE_ADDRESSES says
    assert isinstance(edge.callback_problem(callback, allow_private=True), str)


def form(callback: str, **extra: str) -> dict[str, str]:
    return {
        "hub.mode": "subscribe",
        "hub.topic": f"{PUBLIC_URL}/feeds/all.atom",
        "hub.callback": callback,
        **extra,
    }


@pytest.fixture
def hub_client(settings, service) -> Any:
    from api.app import create_app

    app = create_app(settings.with_(websub_hub=True, hub_max_subscriptions=3, hub_max_per_host=2))
    with TestClient(app, base_url=PUBLIC_URL) as client:
        yield client


def test_the_edge_validates_and_bounds_requests(hub_client, service):
    assert service.anonymous.post("/hub", data=form("https://a.example/1")).status_code == 404
    post = hub_client.post
    assert (
        post("/hub", data=form("https://a.example/1", **{"hub.secret": "x" * 200})).status_code
        == 400
    )
    assert post("/hub", data=form("http://127.0.0.1:9/cb")).status_code == 400
    assert (
        post("/hub", data={**form("https://a.example/1"), "hub.mode": "publish"}).status_code == 400
    )
    assert (
        post(
            "/hub",
            content=b"hub.mode=subscribe" + b"&x=1" * 3000,
            headers={"content-type": "application/x-www-form-urlencoded"},
        ).status_code
        == 413
    )
    assert post("/hub", json={"hub.mode": "subscribe"}).status_code == 415
    assert service.redis.zcard(keys.HUB_INTENTS) == 0  # nothing refused was recorded
    ok = form(
        "https://a.example/1",
        **{"hub.secret": "x" * 199, "hub.lease_seconds": "5", "unknown.field": "ignored"},
    )
    assert post("/hub", data=ok).status_code == 202
    assert post("/hub", data=ok).status_code == 202  # the same again replaces the request
    assert post("/hub", data=form("https://a.example/2")).status_code == 202
    assert post("/hub", data=form("https://a.example/3")).status_code == 429  # per host
    assert post("/hub", data=form("https://b.example/1")).status_code == 202
    assert post("/hub", data=form("https://c.example/1")).status_code == 429  # in total
    assert service.redis.zcard(keys.HUB_INTENTS) == 3
    sid = subscription_id(f"{PUBLIC_URL}/feeds/all.atom", "https://a.example/1")
    intent = service.redis.hgetall(keys.intent_key(sid))
    assert intent[b"lease_s"] == b"3600" and len(intent[b"secret"]) == 199


def test_verified_subscriptions_count_against_the_bounds(service):
    subs = Subscriptions(service.redis)
    bounds = {
        "max_total": 4,
        "max_per_host": 2,
        "lease_s": 3600,
        "secret": "",
        "feed": "all",
        "fmt": "atom",
        "topic": f"{PUBLIC_URL}/feeds/all.atom",
    }
    for n, host in enumerate(("a.example", "a.example", "b.example")):
        outcome, sid, rid = subs.request(
            mode="subscribe",
            callback=f"https://{host}/{n}",
            host=host,
            origin=f"https://{host}:443",
            **bounds,
        )
        assert outcome == "ok"
        assert subs.finish(sid, rid, "all", True, 4) == "subscribed"
    assert service.redis.zcard(keys.HUB_SUBS) == 3 and service.redis.zcard(keys.HUB_INTENTS) == 0
    assert (
        subs.request(
            mode="subscribe",
            callback="https://a.example/9",
            host="a.example",
            origin="https://a.example:443",
            **bounds,
        )[0]
        == "host"
    )
    assert (
        subs.request(
            mode="subscribe",
            callback="https://c.example/9",
            host="c.example",
            origin="https://c.example:443",
            **bounds,
        )[0]
        == "ok"
    )  # pending counts
    assert (
        subs.request(
            mode="subscribe",
            callback="https://d.example/9",
            host="d.example",
            origin="https://d.example:443",
            **bounds,
        )[0]
        == "total"
    )
    # a renewal of a verified subscription is within its own place
    outcome, sid, rid = subs.request(
        mode="subscribe",
        callback="https://a.example/0",
        host="a.example",
        origin="https://a.example:443",
        **bounds,
    )
    assert outcome == "ok" and subs.finish(sid, rid, "all", True, 4) == "subscribed"
    assert subs.listing()["subscriptions"] == 3 and subs.listing()["pending"] == 1
