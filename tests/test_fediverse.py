"""The fediverse accounts' edges (CONTRACT §7, issue #22): WebFinger, actor and NodeInfo shapes;
inbox requests that are unsigned, forged, stale, malformed, too deep or too big are refused with
nothing stored; a flood of follows from one host is bounded; remote keys are fetched only
through the outbound guard; a delivery retried after inbox failures arrives exactly once, and a
410 removes the inbox's followers. Against the session's real Redis, with an app of its own that
has ActivityPub on; the remote side is a loopback server that signs and checks signatures with
the same maintained library (pyhttpsig, draft-cavage-12).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpsig
import pytest
import redis
from cryptography.hazmat.primitives import serialization
from starlette.testclient import TestClient

from api.app import create_app
from feeds import activitypub as ap
from syndicate.config import Settings
from tests.support import PUBLIC_URL
from worker import fediverse
from worker.apsignatures import new_private_key, public_pem, sign
from worker.runtime import Runtime
from worker.work import FANOUT_QUEUE

HOST = "feeds.test"
ACTIVITY_JSON = {"Content-Type": "application/activity+json"}


class Remote:
    """A remote fediverse server on loopback: actors with keys, an inbox with scripted answers
    that checks each POST's cavage signature against our actor's key."""

    def __init__(self) -> None:
        self.key = new_private_key()
        self.answers: list[int] = []
        self.posts: list[dict[str, Any]] = []
        self.our_key = ""
        remote = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                name = self.path.rsplit("/", 1)[-1]
                doc = {
                    "id": remote.actor(name),
                    "type": "Person",
                    "inbox": remote.url + "/inbox",
                    "publicKey": {
                        "id": remote.actor(name) + "#main-key",
                        "owner": remote.actor(name),
                        "publicKeyPem": public_pem(remote.key),
                    },
                }
                self._answer(200, json.dumps(doc).encode())

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ok = httpsig.HeaderVerifier(
                    dict(self.headers),
                    remote.our_key,
                    method="POST",
                    path=self.path,
                    sign_header="signature",
                ).verify()
                status = remote.answers.pop(0) if remote.answers else 202
                remote.posts.append(
                    {
                        "body": json.loads(body),
                        "verified": ok,
                        "status": status,
                        "signature": self.headers["Signature"],
                    }
                )
                self._answer(status, b"")

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/activity+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def actor(self, name: str) -> str:
        return f"{self.url}/users/{name}"

    def follow(self, name: str, target: str = "all") -> dict[str, Any]:
        return {
            "@context": ap.AS,
            "id": f"{self.actor(name)}#follows/1",
            "type": "Follow",
            "actor": self.actor(name),
            "object": ap.actor_id(PUBLIC_URL, target),
        }

    def signed(
        self, name: str, body: bytes, path: str = "/ap/inbox", key: bytes | None = None, **kw: Any
    ) -> dict[str, str]:
        headers = sign(
            self.actor(name) + "#main-key", key or self.key, "POST", PUBLIC_URL + path, body, **kw
        )
        return {**ACTIVITY_JSON, **headers}


@pytest.fixture(autouse=True)
def _drained(worker, clean_redis) -> Iterator[None]:
    """The session's worker has ActivityPub off, so no fan-out process takes the `fediverse`
    queue: what these tests put there is dropped after each."""
    yield
    clean_redis.delete(FANOUT_QUEUE)


@pytest.fixture(scope="module")
def remote() -> Iterator[Remote]:
    r = Remote()
    yield r
    r.server.shutdown()


def _client(settings: Settings, **changes: Any) -> TestClient:
    on = settings.with_(activitypub=True, allow_private_addresses=True, **changes)
    return TestClient(create_app(on), base_url=PUBLIC_URL)


def _ap_state(r: redis.Redis) -> dict[bytes, Any]:
    """Every fediverse key but our own key pairs, with its value."""
    out: dict[bytes, Any] = {}
    for key in r.scan_iter(b"syn:ap:*"):
        if key != b"syn:ap:keys":
            out[key] = r.dump(key)
    return out


def test_webfinger_actor_and_nodeinfo_shapes(settings: Settings, clean_redis) -> None:
    with _client(settings) as c:
        jrd = c.get("/.well-known/webfinger", params={"resource": f"acct:all@{HOST}"})
        assert jrd.status_code == 200 and jrd.headers["content-type"].startswith(
            "application/jrd+json"
        )
        assert jrd.json()["subject"] == f"acct:all@{HOST}"
        self_link = next(link for link in jrd.json()["links"] if link["rel"] == "self")
        assert self_link == {
            "rel": "self",
            "type": "application/activity+json",
            "href": f"{PUBLIC_URL}/ap/actors/all",
        }
        for resource in (f"acct:tag.none@{HOST}", "acct:all@elsewhere.example", "acct:x"):
            assert c.get("/.well-known/webfinger", params={"resource": resource}).status_code == 404
        actor = c.get(self_link["href"], headers={"Accept": "application/activity+json"})
        doc = actor.json()
        assert actor.headers["content-type"].startswith("application/activity+json")
        assert doc["type"] == "Organization" and doc["preferredUsername"] == "all"
        assert doc["endpoints"]["sharedInbox"] == f"{PUBLIC_URL}/ap/inbox"
        assert doc["discoverable"] is True and doc["manuallyApprovesFollowers"] is False
        assert doc["publicKey"]["owner"] == doc["id"] and doc["url"] == f"{PUBLIC_URL}/feeds/all"
        key = serialization.load_pem_public_key(doc["publicKey"]["publicKeyPem"].encode())
        assert key.key_size >= 2048  # type: ignore[union-attr]
        assert "PRIVATE" not in actor.text
        again = c.get(self_link["href"], headers={"Accept": "application/activity+json"})
        assert again.json()["publicKey"] == doc["publicKey"]  # created once, kept
        browser = c.get(self_link["href"], headers={"Accept": "text/html"}, follow_redirects=False)
        assert browser.status_code == 303 and browser.headers["location"].endswith("/feeds/all")
        audio = c.get("/ap/actors/audio", headers={"Accept": "application/activity+json"}).json()
        assert audio["type"] == "Service"
        links = c.get("/.well-known/nodeinfo").json()["links"]
        info = c.get(links[0]["href"].removeprefix(PUBLIC_URL)).json()
        assert info["software"]["name"] == "syndicate" and info["protocols"] == ["activitypub"]
        assert c.get("/ap/actors/all/followers").json() == {
            "@context": ap.AS,
            "id": f"{PUBLIC_URL}/ap/actors/all/followers",
            "type": "OrderedCollection",
            "totalItems": 0,
        }
        assert c.get("/ap/objects/no-such").status_code == 404
    with TestClient(create_app(settings), base_url=PUBLIC_URL) as off:
        assert (
            off.get("/.well-known/webfinger", params={"resource": f"acct:all@{HOST}"}).status_code
            == 404
        )


def test_refused_inbox_requests_store_nothing(settings: Settings, clean_redis, remote) -> None:
    from datetime import UTC, datetime, timedelta

    body = json.dumps(remote.follow("mallory")).encode()
    deep = b'{"a":' * 100 + b"1" + b"}" * 100
    stale = datetime.now(UTC) - timedelta(hours=2)
    other_key = new_private_key()
    with _client(settings) as c:
        before = _ap_state(clean_redis)
        cases = {
            "unsigned": (body, ACTIVITY_JSON, 401),
            "forged": (body, remote.signed("mallory", body, key=other_key), 401),
            "stale": (body, remote.signed("mallory", body, now=stale), 401),
            "digest": (body + b" ", remote.signed("mallory", body), 401),
            "wrong actor": (body, remote.signed("eve", body), 401),
            "not json": (b"{nope", remote.signed("mallory", b"{nope"), 400),
            "too deep": (deep, remote.signed("mallory", deep), 400),
            "too big": (b"x" * (1024 * 1024 + 1), ACTIVITY_JSON, 413),
        }
        for name, (data, headers, status) in cases.items():
            r = c.post("/ap/inbox", content=data, headers=headers)
            assert r.status_code == status, (name, r.text)
            assert "error" in r.json()
        assert _ap_state(clean_redis) == {
            k: v for k, v in before.items() if k != b"syn:ap:counts"
        } | ({b"syn:ap:counts": clean_redis.dump(b"syn:ap:counts")})
        assert not list(clean_redis.scan_iter(b"syn:ap:followers:*"))
        assert not list(clean_redis.scan_iter(b"syn:ap:remote:*"))
        # The same Follow, signed right: taken, and the follower counted once however often.
        for _ in range(2):
            ok = c.post("/ap/inbox", content=body, headers=remote.signed("mallory", body))
            assert ok.status_code == 202, ok.text
        assert c.get("/ap/actors/all/followers").json()["totalItems"] == 1
        # An Undo with the Follow embedded removes it.
        undo = json.dumps(
            {
                "@context": ap.AS,
                "id": remote.actor("mallory") + "#undo",
                "type": "Undo",
                "actor": remote.actor("mallory"),
                "object": remote.follow("mallory"),
            }
        ).encode()
        assert (
            c.post("/ap/inbox", content=undo, headers=remote.signed("mallory", undo)).status_code
            == 202
        )
        assert c.get("/ap/actors/all/followers").json()["totalItems"] == 0


def test_a_flood_of_follows_from_one_host_is_bounded(
    settings: Settings, clean_redis, remote
) -> None:
    with _client(settings, activitypub_follows_per_host=3) as c:
        answers = []
        for n in range(5):
            body = json.dumps(remote.follow(f"bot{n}")).encode()
            answers.append(
                c.post(
                    "/ap/inbox", content=body, headers=remote.signed(f"bot{n}", body)
                ).status_code
            )
        assert answers == [202, 202, 202, 429, 429]
        assert c.get("/ap/actors/all/followers").json()["totalItems"] == 3


def test_remote_keys_are_fetched_only_through_the_outbound_guard(
    settings: Settings, clean_redis, remote
) -> None:
    body = json.dumps(remote.follow("local")).encode()
    guarded = settings.with_(activitypub=True, allow_private_addresses=False)
    with TestClient(create_app(guarded), base_url=PUBLIC_URL) as c:
        r = c.post("/ap/inbox", content=body, headers=remote.signed("local", body))
    assert r.status_code == 401 and "refused" in r.json()["error"]
    assert not list(clean_redis.scan_iter(b"syn:ap:followers:*"))
    assert not list(clean_redis.scan_iter(b"syn:ap:remote:*"))


def test_retries_after_inbox_failures_deliver_exactly_once_and_410_removes(
    settings: Settings, clean_redis, remote
) -> None:
    rt = Runtime(settings.with_(activitypub=True, allow_private_addresses=True))
    store = rt.store.fediverse
    remote.our_key = public_pem(fediverse.private_key(rt, "all"))
    inbox = remote.url + "/inbox"
    assert store.follow("all", remote.actor("reader"), inbox, "f1", "127.0.0.1", 10, 10) == "new"
    remote.answers[:] = [500, 503]
    remote.posts.clear()
    activity = {
        "@context": ap.AS,
        "id": f"{PUBLIC_URL}/ap/objects/x#create",
        "type": "Create",
        "actor": ap.actor_id(PUBLIC_URL, "all"),
        "object": {"id": "x"},
    }
    [did] = store.plan(activity, "create", "all", "x", store.targets_of("all"), lambda _u: "h")
    outcomes = []
    for _ in range(4):
        store.hold_host("h", 0)  # the backoff's wait, skipped
        outcomes.append(fediverse.deliver(rt, did))
    assert outcomes == ["retry", "retry", "sent", "sent"]
    assert [p["status"] for p in remote.posts] == [500, 503, 202]
    assert all(p["verified"] for p in remote.posts)
    assert 'headers="(request-target) host date digest"' in remote.posts[0]["signature"]
    # Planned again (an event rerun): nothing more to send.
    assert store.plan(activity, "create", "all", "x", {inbox}, lambda _u: "h") == []
    # A 410: the inbox's followers go.
    remote.answers[:] = [410]
    gone = {**activity, "id": activity["id"] + "-2"}
    [did2] = store.plan(gone, "update", "all", "x", {inbox}, lambda _u: "h")
    assert fediverse.deliver(rt, did2) == "gone"
    assert store.follower_count("all") == 0


def test_a_create_still_waiting_when_the_article_is_retracted_is_never_sent(
    settings: Settings, clean_redis, remote
) -> None:
    """A Create held back (its inbox's host failing) is dropped once the article is
    unpublished: nothing of a retracted article reaches an inbox after the retraction."""
    from tests.support import load_fixture
    from worker.store import keys

    rt = Runtime(settings.with_(activitypub=True, allow_private_addresses=True))
    store = rt.store.fediverse
    inbox = remote.url + "/inbox"
    assert store.follow("all", remote.actor("reader"), inbox, "f1", "127.0.0.1", 10, 10) == "new"
    seed = load_fixture("seed-article-published")["article"]["id"]
    clean_redis.hset(keys.article_key(seed), "state", "unpublished")
    remote.posts.clear()
    activity = {
        "@context": ap.AS,
        "id": f"{PUBLIC_URL}/ap/objects/{seed}#create",
        "type": "Create",
        "actor": ap.actor_id(PUBLIC_URL, "all"),
        "object": {"id": seed},
    }
    [did] = store.plan(activity, "create", "all", seed, store.targets_of("all"), lambda _u: "h")
    assert fediverse.deliver(rt, did) == "retracted"
    assert remote.posts == []
    assert fediverse.deliver(rt, did) == "gone"  # and it stays so


def _queued(r: redis.Redis) -> list[tuple[str, list]]:
    """(task, args) of each message on the fediverse queue, oldest first."""
    out = []
    for raw in reversed(r.lrange(FANOUT_QUEUE, 0, -1)):
        message = json.loads(raw)
        out.append((message["headers"]["task"], message["headers"]["argsrepr"]))
    return out


def test_an_event_costs_one_message_and_its_fan_out_batches_the_deliveries(
    settings: Settings, clean_redis
) -> None:
    """Applying an event queues one fan-out message, however many followers; the fan-out
    (the fan-out process's task) plans a delivery per shared inbox, BATCH to a message, and
    planning it again queues nothing already sent; an article retracted before its fan-out
    runs is planned to nobody."""
    from feeds.article import ArticleEvent
    from tests.support import load_fixture
    from worker.store import keys

    rt = Runtime(settings.with_(activitypub=True))
    store = rt.store.fediverse
    for n in range(25):
        host = f"s{n}.example"
        assert store.follow(
            "all", f"https://{host}/u/a", f"https://{host}/inbox", f"f{n}", host, 99, 99
        )
    clean_redis.delete(FANOUT_QUEUE)
    payload = load_fixture("seed-article-published")
    event = ArticleEvent.from_payload("evt_fanout_1", payload)
    applied = rt.store.articles.apply(event, {})
    fediverse.article_applied(rt, event, applied)
    [(task, args)] = _queued(clean_redis)
    assert (
        task == "worker.tasks.fediverse_fan_out" and event.article_id in args and "create" in args
    )
    clean_redis.delete(FANOUT_QUEUE)

    assert fediverse.fan_out(rt, event.article_id, "create", "1") == 25
    batches = _queued(clean_redis)
    assert [t for t, _ in batches] == ["worker.tasks.fediverse_deliver"] * 3  # 10 + 10 + 5
    dids = {d for d in clean_redis.keys("syn:ap:delivery:*")}
    assert len(dids) == 25
    for did in list(dids)[:10]:  # ten sent meanwhile: a second run of the fan-out skips them
        clean_redis.hset(did, "state", "sent")
    clean_redis.delete(FANOUT_QUEUE)
    assert fediverse.fan_out(rt, event.article_id, "create", "1") == 15
    assert len(clean_redis.keys("syn:ap:delivery:*")) == 25  # planned once

    retracted = ArticleEvent.from_payload("evt_fanout_2", {**payload, "id": "evt_fanout_2"})
    clean_redis.hset(keys.article_key(retracted.article_id), "state", "unpublished")
    clean_redis.delete(FANOUT_QUEUE)
    assert fediverse.fan_out(rt, retracted.article_id, "update", "2") == 0
    assert _queued(clean_redis) == []


def test_a_deleted_account_follows_nothing_any_more(
    settings: Settings, clean_redis, remote
) -> None:
    """Mastodon tells followed servers when an account is deleted (a `Delete` whose object is
    the actor itself): its follows of every feed go. Someone else's Delete of it changes
    nothing."""
    with _client(settings) as c:
        for target in ("all", "audio"):
            body = json.dumps(remote.follow("leaving", target)).encode()
            r = c.post("/ap/inbox", content=body, headers=remote.signed("leaving", body))
            assert r.status_code == 202, r.text
        assert c.get("/ap/actors/audio/followers").json()["totalItems"] == 1

        def delete(by: str) -> int:
            doc = {
                "@context": ap.AS,
                "id": remote.actor(by) + "#delete",
                "type": "Delete",
                "actor": remote.actor(by),
                "object": remote.actor("leaving"),
            }
            body = json.dumps(doc).encode()
            return c.post("/ap/inbox", content=body, headers=remote.signed(by, body)).status_code

        assert delete("someone") == 202  # taken, and ignored
        assert c.get("/ap/actors/all/followers").json()["totalItems"] == 1
        assert delete("leaving") == 202
        assert c.get("/ap/actors/all/followers").json()["totalItems"] == 0
        assert c.get("/ap/actors/audio/followers").json()["totalItems"] == 0
