"""worker/store/outbox.py, the social outbox, on a Redis of this module's own (no worker to
deliver anything): the intent written in the publish's transaction, the fields a delivery writes
(remote text scrubbed and bounded, attempts, the counters, the hour's posts, the dead letter a
finished entry clears), the sweeper's open list, the per-entry lock, what a takedown asks of an
entry, and `reopen` for a replay. The state machine that drives it is
tests/test_delivery.py's."""

from __future__ import annotations

import time

import pytest
import redis

from worker.store.counters import Counters
from worker.store.dead import DeadLetters, Reason
from worker.store.outbox import (
    Outbox,
    intend_in,
    member,
    open_in,
    parse_member,
    request_delete_in,
    scrub_in,
    states_in,
)

NETWORKS = ("twitter", "mastodon", "bluesky")
OPEN = "syn:outbox:open"
TWITTER = "syn:outbox:a-1:twitter"


@pytest.fixture
def outbox(db: redis.Redis) -> Outbox:
    return Outbox(db, NETWORKS, Counters(db))


def stored(db: redis.Redis, key: str = TWITTER) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in db.hgetall(key).items()}


def open_list(db: redis.Redis) -> dict[str, float]:
    return {m.decode(): score for m, score in db.zrange(OPEN, 0, -1, withscores=True)}


def intend(db: redis.Redis, network: str = "twitter", state: str = "pending", at=None) -> None:
    pipe = db.pipeline()
    intend_in(pipe, "a-1", network, state, "", "e-1", time.time() if at is None else at)
    pipe.execute()


def test_the_intent_is_written_and_only_a_pending_entry_is_opened(db):
    now = time.time()
    pipe = db.pipeline()
    intend_in(pipe, "a-1", "twitter", "pending", "", "e-1", now, traceparent="00-tp-01")
    intend_in(pipe, "a-1", "mastodon", "skipped", "not in the share list", "e-1", now)
    assert not db.exists(TWITTER)  # written with the caller's transaction, not before
    pipe.execute()
    assert stored(db) == {
        "state": "pending",
        "reason": "",
        "attempts": "0",
        "created_at": f"{now:.3f}",
        "event_id": "e-1",
        "traceparent": "00-tp-01",
    }
    assert stored(db, "syn:outbox:a-1:mastodon")["reason"] == "not in the share list"
    assert open_list(db) == {"a-1\ttwitter": pytest.approx(now)}


def test_an_article_id_is_one_part_of_the_key_and_of_the_open_lists_member(db):
    pipe = db.pipeline()
    intend_in(pipe, "a:1\tx", "twitter", "pending", "", "e-1", time.time())
    pipe.execute()
    assert db.exists("syn:outbox:a%3A1\tx:twitter")
    [raw] = db.zrange(OPEN, 0, -1)
    assert parse_member(raw) == ("a:1\tx", "twitter") == parse_member(member("a:1\tx", "twitter"))


def test_entries_lists_the_networks_with_an_entry_and_their_attempts_as_numbers(outbox, db):
    intend(db, "twitter")
    intend(db, "bluesky", state="skipped")
    outbox.update("a-1", "twitter", incr_attempts=True, last_error="HTTP 503")
    entries = outbox.entries("a-1")
    assert sorted(entries) == ["bluesky", "twitter"]
    assert entries["twitter"]["attempts"] == 1 and entries["bluesky"]["attempts"] == 0
    assert entries["twitter"]["last_error"] == "HTTP 503"
    assert outbox.entries("nobody") == {} and outbox.entry("nobody", "twitter") == {}


def test_update_writes_the_fields_as_text_and_counts_attempts(outbox, db):
    intend(db)
    before = time.time()
    outbox.update("a-1", "twitter", incr_attempts=True, in_flight=1, remote_id="1789")
    outbox.update("a-1", "twitter", incr_attempts=True, in_flight=0)
    entry = stored(db)
    assert entry["attempts"] == "2" and entry["in_flight"] == "0" and entry["remote_id"] == "1789"
    assert before - 0.001 <= float(entry["updated_at"]) <= time.time() + 0.001  # to the ms


def test_update_puts_the_entry_on_the_open_list_takes_it_off_or_leaves_it(outbox, db):
    intend(db, state="skipped")
    outbox.update("a-1", "twitter", listing="keep", note="nothing to do")
    assert open_list(db) == {}
    before = time.time()
    outbox.update("a-1", "twitter", state="pending")  # listing="open", touched now
    assert before <= open_list(db)["a-1\ttwitter"] <= time.time()
    outbox.update("a-1", "twitter", listing="keep", in_flight=1)
    assert "a-1\ttwitter" in open_list(db)
    outbox.update("a-1", "twitter", listing="close", state="sent")
    assert open_list(db) == {}


def test_remote_text_is_scrubbed_of_secrets_and_bounded(outbox, db):
    intend(db)
    outbox.update(
        "a-1",
        "twitter",
        last_error="HTTP 401: Authorization: Bearer abcdef0123456789 refused",
        note="retry https://api.example/post?access_token=EAAB1234&x=1",
        reason="y" * 900,
    )
    entry = stored(db)
    assert entry["last_error"] == "HTTP 401: Authorization: Bearer <redacted> refused"
    assert entry["note"] == "retry https://api.example/post?access_token=<redacted>&x=1"
    assert entry["reason"] == "y" * 500


def test_a_state_is_counted_and_a_sent_post_counts_in_its_hour(outbox, db):
    intend(db)
    intend(db, "mastodon")
    outbox.update("a-1", "twitter", state="failed")
    outbox.update("a-1", "twitter", last_error="no state: not counted")
    outbox.update("a-1", "twitter", state="sent")
    outbox.update("a-1", "mastodon", state="sent")
    counters = {k.decode(): float(v) for k, v in db.hgetall("syn:counters").items()}
    assert counters == {
        "delivery:twitter:failed": 1,
        "delivery:twitter:sent": 1,
        "delivery:mastodon:sent": 1,
    }
    hour = f"syn:activity:{int(time.time() // 3600)}"
    assert db.hget(hour, "posts") == b"2" and 0 < db.ttl(hour) <= 2 * 86400


def test_count_retry_adds_one_to_the_networks_retries(outbox, db):
    outbox.count_retry("twitter")
    outbox.count_retry("twitter")
    assert db.hget("syn:counters", "retries:twitter") == b"2"
    assert db.hget("syn:counters", "retries:mastodon") is None


@pytest.mark.parametrize("state", ["sent", "deleted", "skipped"])
def test_a_finished_entry_clears_its_dead_letter(outbox, db, state):
    intend(db)
    letters = DeadLetters(db)
    letters.add("delivery:a-1:twitter", Reason.REMOTE_5XX)
    letters.add("delivery:a-1:mastodon", Reason.AUTH)
    outbox.update("a-1", "twitter", state="failed")
    assert letters.contains("delivery:a-1:twitter")  # still failed: still dead-lettered
    outbox.update("a-1", "twitter", state=state)
    assert [m.decode() for m in db.zrange("syn:dead", 0, -1)] == ["delivery:a-1:mastodon"]
    assert db.hkeys("syn:dead:reasons") == [b"delivery:a-1:mastodon"]


def test_the_lock_is_one_holders_until_unlocked(outbox, db):
    assert outbox.lock("a-1", "twitter", ttl_s=30)
    assert not outbox.lock("a-1", "twitter", ttl_s=30)
    assert outbox.lock("a-1", "mastodon", ttl_s=30)  # one lock per entry
    assert 0 < db.ttl("syn:outbox:a-1:twitter:lock") <= 30  # a dead holder's lock expires
    outbox.unlock("a-1", "twitter")
    assert not db.exists("syn:outbox:a-1:twitter:lock")
    assert outbox.lock("a-1", "twitter", ttl_s=30)


def test_stale_open_gives_untouched_entries_once_a_period(outbox, db):
    now = time.time()
    pipe = db.pipeline()
    open_in(pipe, "a-1", "twitter", now - 120)
    open_in(pipe, "a-2", "mastodon", now - 10)
    pipe.execute()
    assert outbox.stale_open(older_than=60) == [("a-1", "twitter")]
    assert open_list(db)["a-1\ttwitter"] >= now  # touched again ...
    assert outbox.stale_open(older_than=60) == []  # ... so not given again this period
    assert open_list(db)["a-2\tmastodon"] == pytest.approx(now - 10)


def test_stale_open_gives_at_most_a_hundred_at_once(outbox, db):
    pipe = db.pipeline()
    for n in range(105):
        open_in(pipe, f"a-{n}", "twitter", time.time() - 120 + n * 0.01)
    pipe.execute()
    first = outbox.stale_open(older_than=60)
    assert len(first) == 100 and first[0] == ("a-0", "twitter")  # the longest untouched first
    assert sorted(outbox.stale_open(older_than=60)) == [
        (f"a-{n}", "twitter") for n in (100, 101, 102, 103, 104)
    ]


def test_open_per_network_counts_the_open_entries(outbox, db):
    pipe = db.pipeline()
    for article_id, network in [("a-1", "twitter"), ("a-2", "twitter"), ("a-1", "mastodon")]:
        open_in(pipe, article_id, network, time.time())
    intend_in(pipe, "a-2", "twitter", "sent", "", "e-2", time.time())
    pipe.execute()
    assert outbox.open_per_network() == {"twitter": 2, "mastodon": 1}
    outbox.update("a-2", "twitter", listing="close", state="sent")
    assert outbox.open_per_network() == {"twitter": 1, "mastodon": 1}


def test_a_takedown_asks_for_the_delete_and_scrubs_the_words_of_the_entry(outbox, db):
    intend(db)
    intend(db, "mastodon")
    outbox.update(
        "a-1", "twitter", listing="close", state="sent", remote_id="1789", payload="Words"
    )
    outbox.update("a-1", "mastodon", listing="close", state="sent", payload="Kept")
    before = time.time()
    pipe = db.pipeline()
    scrub_in(pipe, "a-1", ("twitter",))
    request_delete_in(pipe, "a-1", "twitter", before)
    pipe.execute()
    entry = stored(db)
    assert "payload" not in entry and entry["delete_requested"] == "1"
    assert entry["state"] == "sent" and entry["remote_id"] == "1789"  # what the delete needs
    assert open_list(db) == {"a-1\ttwitter": pytest.approx(before)}
    assert stored(db, "syn:outbox:a-1:mastodon")["payload"] == "Kept"


def test_states_in_reads_each_networks_state_under_the_callers_watch(outbox, db):
    intend(db, "twitter")
    intend(db, "bluesky", state="skipped")
    with db.pipeline() as pipe:
        pipe.watch(TWITTER)
        assert states_in(pipe, "a-1", NETWORKS) == {"twitter": "pending", "bluesky": "skipped"}
        outbox.update("a-1", "twitter", state="sent")  # another writer, meanwhile
        pipe.multi()
        pipe.set("syn:witness", 1)
        with pytest.raises(redis.WatchError):
            pipe.execute()
    assert not db.exists("syn:witness")


def test_reopen_brings_a_failed_post_back_to_pending_and_keeps_in_flight(outbox, db):
    intend(db)
    outbox.update("a-1", "twitter", listing="close", state="failed", attempts=5, in_flight=1)
    before = time.time()
    assert outbox.reopen("a-1", "twitter") == "post"
    entry = stored(db)
    assert entry["state"] == "pending" and entry["attempts"] == "0"
    assert entry["note"] == "replayed" and before - 0.001 <= float(entry["replayed_at"])
    assert entry["in_flight"] == "1"  # the next attempt looks for that post first
    assert before <= open_list(db)["a-1\ttwitter"] <= time.time()


def test_reopen_asks_again_for_a_delete_that_failed(outbox, db):
    intend(db)
    outbox.update(
        "a-1",
        "twitter",
        listing="close",
        state="sent",
        delete_attempts=4,
        last_error="delete: HTTP 503",
    )
    assert outbox.reopen("a-1", "twitter") == "delete"
    entry = stored(db)
    assert entry["state"] == "sent" and entry["delete_requested"] == "1"
    assert entry["delete_attempts"] == "0" and entry["note"] == "delete replayed"
    assert "a-1\ttwitter" in open_list(db)


def test_reopen_leaves_an_entry_with_nothing_to_retry_alone(outbox, db):
    intend(db)
    outbox.update("a-1", "twitter", listing="close", state="sent", last_error="HTTP 503 once")
    before = stored(db)
    assert outbox.reopen("a-1", "twitter") is None
    assert outbox.reopen("a-1", "mastodon") is None  # no entry at all
    assert stored(db) == before and open_list(db) == {}
    assert not db.exists("syn:outbox:a-1:mastodon")


def test_an_update_after_a_takedown_scrubbed_the_entry_writes_nothing(
    outbox: Outbox, db: redis.Redis
) -> None:
    """A delivery that ends while a takedown removes its entry (the post deleted, the entry
    scrubbed) must not write the entry back, not even as `skipped`: nothing of the article
    outlives its takedown. An entry that exists is written as before."""
    assert outbox.update("a-1", "twitter", state="skipped", reason="unpublished") is False
    assert db.keys("*") == []
    pipe = db.pipeline()
    intend_in(pipe, "a-1", "twitter", "pending", "", "evt-1", time.time(), "")
    pipe.execute()
    assert outbox.update("a-1", "twitter", state="sent", remote_id="1") is True
    assert stored(db)["state"] == "sent"
