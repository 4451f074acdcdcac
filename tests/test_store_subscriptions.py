"""worker/store/subscriptions.py, our WebSub hub's state, on a private Redis (`db`; no
worker needed): requests and their verification, leases, removal, delivery outcomes and
backoff, and what the status page is shown. The hub over HTTP with real subscribers is
tests/test_hub.py's (its bounds test drives `request` and `finish` too)."""

from __future__ import annotations

import time

import pytest

from worker.store import dead, keys
from worker.store.subscriptions import Subscriptions, subscription_id

TOPIC = "http://feeds.test/feeds/all.atom"
BOUNDS = {"max_total": 10, "max_per_host": 10}


@pytest.fixture
def subs(db) -> Subscriptions:
    return Subscriptions(db)


def ask(
    subs: Subscriptions,
    callback: str = "https://sub.example/cb?token=t0k",
    mode: str = "subscribe",
    lease_s: int = 3600,
    secret: str = "s3cret",
    **bounds,
) -> tuple[str, str, str]:
    host = callback.split("/")[2].split(":")[0]
    return subs.request(
        mode=mode,
        topic=TOPIC,
        feed="all",
        fmt="atom",
        callback=callback,
        host=host,
        origin=f"https://{host}:443",
        lease_s=lease_s,
        secret=secret,
        **{**BOUNDS, **bounds},
    )


def subscribe(subs: Subscriptions, callback: str = "https://sub.example/cb", **kw) -> str:
    outcome, sid, rid = ask(subs, callback, **kw)
    assert outcome == "ok"
    assert subs.finish(sid, rid, "all", True, BOUNDS["max_total"]) == "subscribed"
    return sid


def test_a_verified_request_becomes_a_subscription_keyed_without_its_callback(subs, db):
    outcome, sid, rid = ask(subs)
    assert outcome == "ok" and sid == subscription_id(TOPIC, "https://sub.example/cb?token=t0k")
    intent = subs.intent(sid, rid)
    assert intent is not None and intent["mode"] == "subscribe" and intent["lease_s"] == "3600"
    assert subs.intent(sid, "another request") is None
    assert subs.finish(sid, rid, "all", True, 10) == "subscribed"
    assert subs.intent(sid, rid) is None  # answered

    sub = subs.get(sid)
    assert sub is not None and sub.callback == "https://sub.example/cb?token=t0k"
    assert sub.secret == "s3cret" and sub.origin == "https://sub.example:443"
    assert time.time() + 3590 < sub.expires_at <= time.time() + 3600.01  # stored to the ms
    assert subs.of_feed("all") == [sid]
    every_key = b" ".join(db.scan_iter(keys.PREFIX + "hub:*"))
    assert b"sub.example/cb" not in every_key and b"t0k" not in every_key
    assert subs.listing()["counts"]["requested"] == 1
    assert subs.listing()["counts"]["verified"] == 1


def test_a_newer_request_supersedes_the_pending_one(subs, db):
    _, sid, first = ask(subs, secret="old")
    _, same, second = ask(subs, secret="new")
    assert same == sid and second != first
    assert subs.finish(sid, first, "all", True, 10) == "superseded"
    assert subs.finish(sid, second, "all", True, 10) == "subscribed"
    assert subs.get(sid).secret == "new"
    assert db.hget(keys.HUB_HOSTS, "p:sub.example") is None  # one pending, now gone


def test_a_failed_verification_records_nothing_but_the_count(subs, db):
    _, sid, rid = ask(subs)
    assert subs.finish(sid, rid, "all", False, 10) == "failed"
    assert subs.get(sid) is None and subs.of_feed("all") == []
    listing = subs.listing()
    assert listing["pending"] == 0 and listing["subscriptions"] == 0
    assert listing["counts"]["verify_failed"] == 1
    assert db.hgetall(keys.HUB_HOSTS) == {}


def test_the_total_bound_holds_again_when_verifying(subs):
    sids = [subscribe(subs, f"https://h{n}.example/cb") for n in range(2)]
    _, sid, rid = ask(subs, "https://late.example/cb")
    assert subs.finish(sid, rid, "all", True, max_total=2) == "full"
    assert subs.get(sid) is None and sorted(subs.of_feed("all")) == sorted(sids)
    assert ask(subs, "https://more.example/cb", max_total=2)[0] == "total"


def test_an_unsubscribe_removes_the_subscription_its_counts_and_its_dead_letter(subs, db):
    sid = subscribe(subs)
    db.zadd(dead.DEAD, {f"hubdelivery:{sid}": time.time()})
    _, same, rid = ask(subs, "https://sub.example/cb", mode="unsubscribe")
    assert same == sid and subs.finish(sid, rid, "all", True, 10) == "unsubscribed"
    assert subs.get(sid) is None and subs.of_feed("all") == []
    assert db.zscore(dead.DEAD, f"hubdelivery:{sid}") is None
    assert db.hgetall(keys.HUB_TOPICS) == {}
    assert db.hget(keys.HUB_HOSTS, "a:sub.example") is None
    assert subs.listing()["counts"]["unsubscribed"] == 1


def test_an_ended_lease_gets_no_delivery_and_is_purged(subs):
    running = subscribe(subs, "https://running.example/cb")
    ended = subscribe(subs, "https://ended.example/cb", lease_s=0)
    assert subs.of_feed("all") == [running]
    assert not subs.remove(running, "all", "expired", lease_ended_before=time.time())
    assert subs.purge_expired() == 1
    assert subs.get(ended) is None and subs.get(running) is not None
    assert subs.listing()["counts"]["expired"] == 1
    assert subs.remove(running, "all", "gone")  # a 410: whatever its lease
    assert subs.get(running) is None and subs.listing()["counts"]["gone"] == 1


def test_one_delivery_at_a_time_per_subscription(subs):
    sid = subscribe(subs)
    token = subs.lock(sid, ttl_s=30)
    assert token is not None and subs.lock(sid, ttl_s=30) is None
    subs.unlock(sid, "not the holder's token")
    assert subs.lock(sid, ttl_s=30) is None
    subs.unlock(sid, token)
    assert subs.lock(sid, ttl_s=30) is not None


def test_failures_count_per_subscription_and_origin_until_a_delivery_succeeds(subs, db):
    sid = subscribe(subs)
    origin = "https://sub.example:443"
    subs.sending(sid, '"v1"')
    assert subs.failed(sid, origin, "HTTP 503") == (1, 1)
    assert subs.failed(sid, origin, "no answer (ReadTimeout)") == (2, 2)
    subs.hold_host(origin, 2_000_000_000.0)
    assert subs.host_retry_at(origin) == 2_000_000_000.0
    [failing] = subs.listing()["failing_callbacks"]
    assert failing["host"] == "sub.example" and failing["failures"] == 2
    assert failing["error"] == "no answer (ReadTimeout)"
    assert "secret" not in str(subs.listing()) and "s3cret" not in str(subs.listing())

    subs.delivered(sid, '"v1"', origin)
    sub = subs.get(sid)
    assert sub is not None and sub.failures == 0 and sub.delivered_etag == '"v1"'
    assert sub.last_error == "" and subs.host_retry_at(origin) == 0.0
    assert subs.listing()["failing"] == 0
    assert db.hget(keys.sub_key(sid), "sending_etag") is None


def test_a_failure_after_the_subscription_is_gone_counts_only_for_its_origin(subs):
    sid = subscribe(subs)
    origin = "https://sub.example:443"
    subs.remove(sid, "all", "gone")
    assert subs.failed(sid, origin, "HTTP 500") == (0, 1)
    assert subs.get(sid) is None and subs.listing()["failing"] == 0


def test_a_replay_gives_the_subscription_and_its_origin_fresh_retries(subs):
    sid = subscribe(subs)
    origin = "https://sub.example:443"
    subs.failed(sid, origin, "HTTP 500")
    subs.hold_host(origin, 2_000_000_000.0)
    subs.reset(sid, origin)
    assert subs.get(sid).failures == 0 and subs.host_retry_at(origin) == 0.0
    assert subs.failed(sid, origin, "HTTP 500") == (1, 1)


def test_the_listing_ranks_topics_by_subscribers_and_shows_nothing_when_asked_for_none(subs):
    for n in range(3):
        subscribe(subs, f"https://s{n}.example/cb")
    listing = subs.listing()
    assert listing["topics"] == [(TOPIC, 3)] and listing["subscriptions"] == 3
    empty = subs.listing(limit=0)
    assert empty["topics"] == [] and empty["failing_callbacks"] == []
    assert empty["subscriptions"] == 3
