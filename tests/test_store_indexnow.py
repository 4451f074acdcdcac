"""worker/store/indexnow.py, IndexNow's pending URLs and batches, on a private Redis: a URL
queued twice before the flush is one member, the first URL of a window asks for the flush (the
expiring flag) and the others ride along, past the cap a URL is dropped and counted; a claim
takes one host's URLs (never a host that merely starts alike), at most the limit, as a batch
with its record, and clears the flag once nothing is pending; the attempts, the lock, success
(the batch and its dead letter gone, the stats counted), a failure (final: out of the open
batches, kept 30 days) and a replay's reopening. The submissions are tests/test_indexnow_podping.py's."""

from __future__ import annotations

import json
import time

import pytest
import redis

from worker.store import indexnow
from worker.store.dead import DeadLetters, Reason
from worker.store.indexnow import (
    BATCHES,
    FAILED_KEPT_S,
    FLUSH,
    PENDING,
    STATS,
    IndexNowQueue,
    batch_key,
    batch_lock_key,
    letter,
)

A, B = "a.example", "b.example"


@pytest.fixture
def queue(private_redis: redis.Redis) -> IndexNowQueue:
    private_redis.flushdb()
    return IndexNowQueue(private_redis)


def urls(host: str, *paths: str) -> list[tuple[str, str]]:
    return [(host, f"https://{host}/{p}") for p in paths]


def pending(r: redis.Redis) -> list[str]:
    return [m.decode() for m in r.zrange(PENDING, 0, -1)]


def test_the_first_url_of_a_window_asks_for_the_flush_and_the_rest_ride_along(queue, private_redis):
    assert queue.queue(urls(A, "1"), 60_000) is True
    assert 59_000 < private_redis.pttl(FLUSH) <= 60_000
    assert queue.queue(urls(A, "2", "1") + urls(B, "1"), 60_000) is False
    assert pending(private_redis) == [
        f"{A} https://{A}/1",
        f"{A} https://{A}/2",
        f"{B} https://{B}/1",
    ]
    assert {score for _, score in private_redis.zrange(PENDING, 0, -1, withscores=True)} == {0.0}


def test_a_lost_flush_is_asked_for_again_once_its_flag_expired(queue, private_redis):
    assert queue.queue(urls(A, "1"), 60_000)
    private_redis.delete(FLUSH)  # as its expiry would
    assert queue.queue(urls(A, "1"), 60_000) is True  # even for a URL already pending


def test_nothing_to_queue_asks_for_nothing(queue, private_redis):
    assert queue.queue([], 60_000) is False
    assert not private_redis.exists(FLUSH) and not private_redis.exists(PENDING)


def test_past_the_cap_a_new_url_is_dropped_and_counted(queue, private_redis, monkeypatch):
    monkeypatch.setattr(indexnow, "PENDING_MAX", 3)
    queue.queue(urls(A, "1", "2"), 60_000)
    queue.queue(urls(A, "3", "4", "5", "1"), 60_000)  # `1` is pending already: not dropped
    assert pending(private_redis) == [f"{A} https://{A}/{n}" for n in (1, 2, 3)]
    assert private_redis.hgetall(STATS) == {b"dropped": b"2"}
    assert queue.stats() == {"dropped": "2"}


def test_a_claim_takes_one_hosts_urls_as_a_batch(queue, private_redis):
    queue.queue(urls(B, "x") + urls(A, "2", "1") + urls(f"{A}:8080", "p"), 60_000)
    claimed = queue.claim()
    assert claimed is not None
    batch_id, count, left = claimed
    assert (count, left) == (2, 2)
    batch = queue.batch(batch_id)
    assert batch is not None
    assert batch["host"] == A and batch["urls"] == [f"https://{A}/1", f"https://{A}/2"]
    assert batch["attempts"] == 0 and batch["state"] == "open"
    assert abs(float(batch["created_at"]) - time.time()) < 5
    assert json.loads(private_redis.hget(batch_key(batch_id), "urls")) == batch["urls"]
    assert queue.open_batches() == [batch_id]
    assert pending(private_redis) == [f"{A}:8080 https://{A}:8080/p", f"{B} https://{B}/x"]
    assert private_redis.exists(FLUSH)  # more pending: the flag stays


def test_claims_empty_the_queue_and_then_clear_the_flag(queue, private_redis):
    queue.queue(urls(A, "1") + urls(B, "1"), 60_000)
    first, second = queue.claim(), queue.claim()
    assert first is not None and second is not None
    assert (first[1:], second[1:]) == ((1, 1), (1, 0))
    assert not private_redis.exists(FLUSH) and not private_redis.exists(PENDING)
    assert [queue.batch(first[0])["host"], queue.batch(second[0])["host"]] == [A, B]
    private_redis.set(FLUSH, "1")  # a flush scheduled, nothing pending
    assert queue.claim() is None
    assert not private_redis.exists(FLUSH)
    assert private_redis.zcard(BATCHES) == 2  # an empty claim makes no batch


def test_a_claim_takes_at_most_the_limit_and_never_more_than_a_post_holds(
    queue, private_redis, monkeypatch
):
    queue.queue(urls(A, *(f"{n:04}" for n in range(1_200))), 60_000)
    claimed = queue.claim(limit=1_100)
    assert claimed is not None and claimed[1:] == (1_100, 100)
    batch = queue.batch(claimed[0])
    assert batch is not None and len(set(batch["urls"])) == 1_100
    assert private_redis.zcard(PENDING) == 100
    monkeypatch.setattr(indexnow, "BATCH_MAX", 30)
    assert queue.claim(limit=1_000)[1:] == (30, 70)


def test_an_attempt_is_recorded_before_the_post(queue, private_redis):
    queue.queue(urls(A, "1"), 60_000)
    batch_id = queue.claim()[0]
    assert queue.attempting(batch_id) == 1
    assert queue.attempting(batch_id) == 2
    batch = queue.batch(batch_id)
    assert batch["attempts"] == 2 and abs(float(batch["sending_at"]) - time.time()) < 5


def test_one_worker_at_a_time_submits_a_batch(queue, private_redis):
    assert queue.lock("b1", 30)
    assert not queue.lock("b1", 30)
    assert queue.lock("b2", 30)  # another batch is free
    assert 29_000 < private_redis.pttl(batch_lock_key("b1")) <= 30_000
    queue.unlock("b1")
    assert queue.lock("b1", 30)


def test_a_submitted_batch_is_gone_and_counted_and_its_dead_letter_too(queue, private_redis):
    queue.queue(urls(A, "1", "2"), 60_000)
    batch_id = queue.claim()[0]
    dead = DeadLetters(private_redis)
    dead.add(letter(batch_id), Reason.REMOTE_5XX)
    queue.submitted(batch_id, 202, 2)
    assert queue.batch(batch_id) is None and not private_redis.exists(batch_key(batch_id))
    assert queue.open_batches() == [] and not dead.contains(letter(batch_id))
    stats = queue.stats()
    assert (stats["urls_submitted"], stats["batches_submitted"], stats["last_status"]) == (
        "2",
        "1",
        "202",
    )
    assert abs(float(stats["last_ok_at"]) - time.time()) < 5


def test_a_failed_attempt_keeps_the_batch_open(queue, private_redis):
    queue.queue(urls(A, "1"), 60_000)
    batch_id = queue.claim()[0]
    queue.failed(batch_id, None, "unreachable: " + "x" * 400, final=False)
    batch = queue.batch(batch_id)
    assert batch["state"] == "open" and batch["last_status"] == ""
    assert batch["last_error"] == ("unreachable: " + "x" * 400)[:300]
    assert queue.open_batches() == [batch_id]
    assert private_redis.ttl(batch_key(batch_id)) == -1
    assert "batches_failed" not in queue.stats()


def test_a_final_failure_ends_the_batch_and_keeps_it_for_a_while(queue, private_redis):
    queue.queue(urls(A, "1"), 60_000)
    batch_id = queue.claim()[0]
    queue.failed(batch_id, 403, "HTTP 403: key not valid", final=True)
    batch = queue.batch(batch_id)
    assert batch["state"] == "failed" and batch["last_status"] == "403"
    assert queue.open_batches() == []
    assert FAILED_KEPT_S - 60 < private_redis.ttl(batch_key(batch_id)) <= FAILED_KEPT_S
    assert queue.stats()["batches_failed"] == "1"


def test_a_replay_reopens_a_failed_batch_with_fresh_attempts(queue, private_redis):
    queue.queue(urls(A, "1"), 60_000)
    batch_id = queue.claim()[0]
    queue.attempting(batch_id)
    queue.failed(batch_id, 500, "HTTP 500", final=True)
    assert queue.reopen(batch_id) is True
    batch = queue.batch(batch_id)
    assert batch["state"] == "open" and batch["attempts"] == 0
    assert batch["urls"] == [f"https://{A}/1"]
    assert private_redis.ttl(batch_key(batch_id)) == -1  # no longer expiring
    assert queue.open_batches() == [batch_id]
    assert queue.reopen("no-such-batch") is False
    assert not private_redis.exists(batch_key("no-such-batch"))
    assert queue.open_batches() == [batch_id]
