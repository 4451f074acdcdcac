"""worker/store/fediverse.py, the fediverse's state, on a private Redis: the bounds of a follow (a
new follower refused `full` past the actor's cap, `flood` past its host's follows in the hour,
with nothing stored; a known one `again`, counted once and never refused), when each follower
followed and `targets_of` by that time, unfollows, `forget` of a deleted account, `followed`,
the 410 that removes an inbox's followers; deliveries planned once per (activity, inbox)
however often planned, with their intent, failures, host backoff and ends; the private key's
first writer winning, locks by token and the remote key cache. The HTTP side is
tests/test_fediverse.py's."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis

from worker.store.dead import DeadLetters, Reason
from worker.store.fediverse import (
    ACTORS,
    COUNTS,
    FAILING,
    KEYS,
    TARGETS,
    Fediverse,
    body_key,
    delivery_id,
    delivery_key,
    flood_key,
    followers_key,
    host_key,
    received_key,
    remote_key,
    target_id,
)

INBOX = "https://social.example/inbox"  # a shared inbox
OTHER = "https://other.example/users/bo/inbox"


@pytest.fixture
def ap(private_redis: redis.Redis) -> Fediverse:
    private_redis.flushdb()
    return Fediverse(private_redis)


def follow(
    ap: Fediverse, user: str, follower: str, inbox: str = INBOX, total: int = 100, hour: int = 100
) -> str:
    host = urlsplit(inbox).hostname or ""
    return ap.follow(user, follower, inbox, f"{follower}#follow", host, total, hour)


def counts(r: redis.Redis) -> dict[str, int]:
    return {k.decode(): int(v) for k, v in r.hgetall(COUNTS).items()}


def host_of(url: str) -> str:
    return urlsplit(url).hostname or ""


# Follows ----------------------------------------------------------------------------------------
def test_a_new_follower_is_stored_with_its_inbox_its_follow_and_when(ap, private_redis):
    assert follow(ap, "tag.nato", "https://social.example/users/al") == "new"
    record = json.loads(
        private_redis.hget(followers_key("tag.nato"), "https://social.example/users/al")
    )
    assert record["inbox"] == INBOX and record["host"] == "social.example"
    assert record["follow"] == "https://social.example/users/al#follow"
    assert abs(record["since"] - time.time()) < 5
    assert private_redis.smembers(ACTORS) == {b"tag.nato"}
    assert ap.follower_count("tag.nato") == 1 and counts(private_redis) == {"followed": 1}


def test_a_known_follower_counts_once_and_is_never_refused(ap, private_redis):
    al = "https://social.example/users/al"
    assert follow(ap, "all", al, total=1, hour=1) == "new"
    assert follow(ap, "all", al, inbox=OTHER, total=1, hour=1) == "again"  # full and flooded
    assert ap.follower_count("all") == 1
    assert ap.followers("all")[al]["inbox"] == OTHER  # the latest Follow's inbox
    assert int(private_redis.get(flood_key("social.example"))) == 1


def test_a_full_actor_refuses_a_new_follower_and_stores_nothing(ap, private_redis):
    for n in range(2):
        assert follow(ap, "all", f"https://social.example/users/{n}", total=2) == "new"
    assert follow(ap, "all", "https://social.example/users/late", total=2) == "full"
    assert ap.follower_count("all") == 2
    assert "https://social.example/users/late" not in ap.followers("all")
    assert int(private_redis.get(flood_key("social.example"))) == 2  # a refusal uses no quota
    assert follow(ap, "tag.nato", "https://social.example/users/late", total=2) == "new"


def test_a_flood_from_one_host_is_refused_for_the_hour(ap, private_redis):
    for n in range(2):
        assert follow(ap, "all", f"https://social.example/users/{n}", hour=2) == "new"
    assert follow(ap, "tag.nato", "https://social.example/users/x", hour=2) == "flood"
    assert ap.follower_count("tag.nato") == 0 and ap.follower_count("all") == 2
    assert 3590 < private_redis.ttl(flood_key("social.example")) <= 3600
    assert follow(ap, "all", "https://other.example/users/bo", OTHER, hour=2) == "new"
    private_redis.delete(flood_key("social.example"))  # the hour is over
    assert follow(ap, "tag.nato", "https://social.example/users/x", hour=2) == "new"
    assert counts(private_redis)["followed"] == 4  # refusals are not follows


def test_targets_of_are_the_distinct_inboxes_of_who_followed_by_then(ap):
    follow(ap, "all", "https://social.example/users/al")
    follow(ap, "all", "https://social.example/users/cy")  # the same shared inbox
    time.sleep(0.01)
    published = time.time()
    time.sleep(0.01)
    follow(ap, "all", "https://other.example/users/bo", OTHER)
    follow(ap, "tag.nato", "https://elsewhere.example/users/di", "https://elsewhere.example/in")
    assert ap.targets_of("all", published) == {INBOX}
    assert ap.targets_of("all") == {INBOX, OTHER}
    assert ap.targets_of("nobody") == set()


def test_a_repeated_follow_keeps_when_the_follower_first_followed(ap):
    follow(ap, "all", "https://social.example/users/al")
    time.sleep(0.01)
    published = time.time()
    time.sleep(0.01)
    assert follow(ap, "all", "https://social.example/users/al") == "again"
    assert ap.targets_of("all", published) == {INBOX}


def test_an_unfollow_removes_the_follower_only_for_its_own_follow(ap, private_redis):
    al = "https://social.example/users/al"
    follow(ap, "all", al)
    assert ap.unfollow("all", al, follow_id="https://social.example/other#follow") is False
    assert ap.unfollow("tag.nato", al) is False  # follows no such actor
    assert ap.follower_count("all") == 1 and "unfollowed" not in counts(private_redis)
    assert ap.unfollow("all", al, follow_id=f"{al}#follow") is True
    assert ap.followers("all") == {} and counts(private_redis)["unfollowed"] == 1
    assert ap.unfollow("all", al) is False


def test_forget_removes_a_deleted_account_from_every_actor(ap, private_redis):
    al = "https://social.example/users/al"
    for user in ("all", "tag.nato", "author.jo"):
        follow(ap, user, al)
    follow(ap, "tag.nato", "https://other.example/users/bo", OTHER)
    assert ap.forget(al) == 3
    assert [ap.follower_count(u) for u in ("all", "tag.nato", "author.jo")] == [0, 1, 0]
    assert counts(private_redis)["unfollowed"] == 3
    assert ap.forget(al) == 0 and counts(private_redis)["unfollowed"] == 3


def test_followed_lists_the_actors_with_followers(ap):
    assert ap.followed() == []
    follow(ap, "tag.nato", "https://social.example/users/al")
    follow(ap, "all", "https://social.example/users/al")
    follow(ap, "all", "https://other.example/users/bo", OTHER)
    assert ap.followed() == ["all", "tag.nato"]


def test_an_actor_whose_last_follower_left_is_no_longer_followed(ap):
    follow(ap, "tag.nato", "https://social.example/users/al")
    follow(ap, "all", "https://social.example/users/al")
    ap.unfollow("tag.nato", "https://social.example/users/al")
    assert ap.followed() == ["all"]


def test_a_gone_inbox_takes_its_followers_with_it(ap):
    follow(ap, "all", "https://social.example/users/al")
    follow(ap, "tag.nato", "https://social.example/users/cy")
    follow(ap, "all", "https://other.example/users/bo", OTHER)
    assert ap.remove_inbox(INBOX) == 2
    assert list(ap.followers("all")) == ["https://other.example/users/bo"]
    assert ap.followers("tag.nato") == {}
    assert ap.remove_inbox(INBOX) == 0


# Deliveries -------------------------------------------------------------------------------------
def activity(n: int = 1) -> dict[str, Any]:
    return {"id": f"https://news.example/ap/create/a1/{n}", "type": "Create"}


def plan(ap: Fediverse, kind: str = "create", inboxes: tuple[str, ...] = (INBOX, OTHER)):
    return ap.plan(activity(), kind, "all", "a1", set(inboxes), host_of)


def did_of(inbox: str) -> str:
    return delivery_id(activity()["id"], target_id(inbox))


def test_a_plan_records_one_delivery_per_inbox(ap, private_redis):
    assert sorted(plan(ap)) == sorted([did_of(INBOX), did_of(OTHER)])
    assert did_of(INBOX) != did_of(OTHER)
    assert ap.delivery(did_of(INBOX)) == {
        "state": "queued",
        "activity": activity()["id"],
        "tid": target_id(INBOX),
        "host": "social.example",
        "article": "a1",
        "kind": "create",
        "by": "all",
    }
    assert ap.inbox(target_id(OTHER)) == OTHER
    assert private_redis.hget(TARGETS, target_id(OTHER)) == OTHER.encode()
    assert json.loads(ap.body(activity()["id"])) == activity()
    assert 29 * 86400 < private_redis.ttl(body_key(activity()["id"])) <= 30 * 86400
    assert ap.received("a1") == {INBOX, OTHER}


def test_planning_again_plans_nothing_twice_and_never_what_was_sent(ap, private_redis):
    first = sorted(plan(ap))
    ap.failed(did_of(INBOX), "social.example", "HTTP 503")
    assert sorted(plan(ap)) == first  # the same deliveries, not new ones
    assert ap.delivery(did_of(INBOX))["failures"] == "1"
    ap.sending(did_of(OTHER))
    ap.sent(did_of(OTHER), "other.example", "fediverse:x")
    assert plan(ap) == [did_of(INBOX)]
    assert ap.delivery(did_of(OTHER))["state"] == "sent"  # not queued again by the plan
    assert len(private_redis.keys(delivery_key("*"))) == 2


def test_only_a_create_or_announce_counts_as_received(ap):
    for kind in ("update", "delete", "accept"):
        plan(ap, kind)
    assert ap.received("a1") == set()
    plan(ap, "announce", (OTHER,))
    assert ap.received("a1") == {OTHER}


def test_a_failure_counts_for_the_delivery_and_its_host(ap, private_redis):
    plan(ap)
    did, other = did_of(INBOX), did_of(OTHER)
    ap.sending(did)
    assert ap.delivery(did)["state"] == "sending"
    assert ap.failed(did, "social.example", "HTTP 503: " + "x" * 300) == (1, 1)
    assert ap.failed(other, "social.example", "timeout") == (1, 2)  # as if on one host
    assert ap.failed(did, "social.example", "timeout") == (2, 3)
    record = ap.delivery(did)
    assert record["state"] == "queued" and record["last_error"] == "timeout"
    assert 86000 < private_redis.ttl(host_key("social.example")) <= 86400
    assert private_redis.zrange(FAILING, 0, -1) == sorted(d.encode() for d in (did, other))
    ap.hold_host("social.example", 1234.5)
    assert ap.host_retry_at("social.example") == 1234.5
    assert ap.host_retry_at("other.example") == 0.0
    ap.reset(did, "social.example")  # a replay
    assert ap.delivery(did)["failures"] == "0" and not private_redis.exists(
        host_key("social.example")
    )


def test_a_sent_delivery_clears_its_failures_its_host_and_its_letter(ap, private_redis):
    plan(ap)
    did = did_of(INBOX)
    dead = DeadLetters(private_redis)
    dead.add(f"fediverse:{did}", Reason.REMOTE_5XX)
    ap.failed(did, "social.example", "HTTP 503")
    ap.hold_host("social.example", time.time() + 60)
    ap.sent(did, "social.example", f"fediverse:{did}")
    record = ap.delivery(did)
    assert (record["state"], record["failures"], record["last_error"]) == ("sent", "0", "")
    assert abs(float(record["sent_at"]) - time.time()) < 5
    assert private_redis.zscore(FAILING, did) is None
    assert not private_redis.exists(host_key("social.example"))
    assert not dead.contains(f"fediverse:{did}") and counts(private_redis)["delivered"] == 1


def test_a_gone_delivery_ends_and_leaves_no_letter(ap, private_redis):
    plan(ap)
    did = did_of(INBOX)
    dead = DeadLetters(private_redis)
    dead.add(f"fediverse:{did}", Reason.REMOTE_4XX)
    ap.failed(did, "social.example", "HTTP 404")
    ap.gone(did, f"fediverse:{did}")
    assert ap.delivery(did)["state"] == "gone" and private_redis.zscore(FAILING, did) is None
    assert not dead.contains(f"fediverse:{did}") and counts(private_redis)["gone"] == 1


def test_a_delivery_lock_is_released_only_by_its_holder(ap, private_redis):
    token = ap.lock("d1", 30)
    assert token and ap.lock("d1", 30) is None
    ap.unlock("d1", "someone-else")
    assert ap.lock("d1", 30) is None
    ap.unlock("d1", token)
    assert ap.lock("d1", 30) is not None


# Keys and the listing ---------------------------------------------------------------------------
def test_the_first_private_key_written_is_everyones(ap, private_redis):
    made: list[bytes] = []

    def make(pem: bytes) -> Any:
        def new_key() -> bytes:
            made.append(pem)
            return pem

        return new_key

    assert ap.private_key("all", make(b"PEM-1")) == b"PEM-1"
    assert Fediverse(private_redis).private_key("all", make(b"PEM-2")) == b"PEM-1"
    assert made == [b"PEM-1"]  # a key there: none made
    assert private_redis.hget(KEYS, "all") == b"PEM-1"
    assert ap.private_key("tag.nato", make(b"PEM-3")) == b"PEM-3"


def test_a_remote_key_is_cached_for_its_time(ap, private_redis):
    assert ap.remote("https://social.example/users/al#main-key") is None
    record = {"owner": "https://social.example/users/al", "pem": "PEM", "inbox": INBOX}
    ap.remember_remote("https://social.example/users/al#main-key", record, 600)
    assert ap.remote("https://social.example/users/al#main-key") == record
    key = remote_key("https://social.example/users/al#main-key")
    assert 590 < private_redis.ttl(key) <= 600


def test_the_listing_counts_followers_failures_and_outcomes(ap, private_redis):
    follow(ap, "all", "https://social.example/users/al")
    follow(ap, "all", "https://other.example/users/bo", OTHER)
    follow(ap, "tag.nato", "https://social.example/users/cy")
    ap.unfollow("tag.nato", "https://social.example/users/cy")
    plan(ap)
    did = did_of(INBOX)
    ap.failed(did, "social.example", "timeout")
    ap.count("dead")
    listing = ap.listing()
    assert listing["followers"] == 2 and listing["actors"] == {"all": 2}
    assert listing["failing"] == 1
    assert listing["counts"] == {
        "followed": 3,
        "unfollowed": 1,
        "refused": 0,
        "delivered": 0,
        "failed": 1,
        "gone": 0,
        "dead": 1,
    }
    assert private_redis.scard(received_key("a1")) == 2
