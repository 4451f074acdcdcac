"""worker/store/events.py, the accepted events' repository, on a Redis of this module's own (no
worker and no applier to take the events away): `accept` records and queues an event in one step
and refuses an id it has seen within the retention; the reads (`get_many`, `summaries` without
the body, `recent_ids` within its bound); an event's life after that (`start`, `finish` with its
dead letter, `retry` through the schedule, `requeue` for a replay); and `remove_in`, a purge's
share. Taking, pausing and the sweeper's `requeue_stale` are tests/test_applier.py's. Keys are
spelled out as an operator would type them into `redis-cli`."""

from __future__ import annotations

import json
import threading
import time

import pytest
import redis

from tests.support import wait_for
from worker.store import events as events_module
from worker.store.events import SUMMARY_FIELDS, Events, remove_in

RETENTION_S = 3600
READY, RECENT, UNFINISHED = "syn:events:ready", "syn:events:recent", "syn:events:unfinished"
DEAD, REASONS, REPLAYED = "syn:dead", "syn:dead:reasons", "syn:dead:replayed"


@pytest.fixture
def events(db: redis.Redis) -> Events:
    return Events(db, RETENTION_S)


def record(db: redis.Redis, event_id: str) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in db.hgetall(f"syn:event:{event_id}").items()}


def accept(events: Events, event_id: str, article_id: str = "a-1") -> None:
    body = json.dumps({"id": event_id, "article": {"id": article_id}})
    assert events.accept(event_id, "article.published", article_id, body)


def test_accept_records_the_event_and_queues_it(events, db):
    before = time.time()
    assert events.accept("e-1", "article.published", "a-1", '{"id": "e-1"}', "00-trace-01")
    stored = record(db, "e-1")
    received = float(stored.pop("received_at"))
    assert before - 1e-6 <= received <= time.time() + 1e-6  # written to the µs
    assert stored == {
        "status": "queued",
        "type": "article.published",
        "article_id": "a-1",
        "body": '{"id": "e-1"}',
        "attempts": "0",
        "traceparent": "00-trace-01",
    }
    assert db.lrange(READY, 0, -1) == [b"e-1"]
    for index in (RECENT, UNFINISHED, "syn:article:a-1:events"):
        assert db.zrange(index, 0, -1, withscores=True) == [(b"e-1", pytest.approx(received))]
    # The record, and the article's index of its events, go when the retention ends.
    assert RETENTION_S - 5 < db.ttl("syn:event:e-1") <= RETENTION_S
    assert RETENTION_S - 5 < db.ttl("syn:article:a-1:events") <= RETENTION_S


def test_a_seen_id_is_refused_and_changes_nothing(events, db):
    accept(events, "e-1")
    events.start("e-1")
    events.finish("e-1", "done", {"outcome": "applied"})
    assert not events.accept("e-1", "article.unpublished", "a-2", "{}")
    stored = record(db, "e-1")
    assert stored["status"] == "done" and stored["type"] == "article.published"
    assert db.lrange(READY, 0, -1) == [b"e-1"]  # queued once, by the first accept
    assert db.zcard(UNFINISHED) == 0 and not db.exists("syn:article:a-2:events")


def test_the_same_event_sent_at_once_from_many_clients_is_queued_once(events, db):
    answers: list[bool] = []
    gate = threading.Barrier(8)

    def send() -> None:
        gate.wait()
        answers.append(events.accept("e-1", "article.published", "a-1", "{}"))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [False] * 7 + [True]
    assert db.lrange(READY, 0, -1) == [b"e-1"] and db.zcard(RECENT) == 1


def test_after_the_retention_an_id_is_new_again_and_its_article_index_forgets_it(db):
    short = Events(db, retention_s=1)
    accept(short, "e-1")
    wait_for(lambda: not db.exists("syn:event:e-1"), 5, "the record to expire")
    accept(short, "e-2")
    assert db.zrange("syn:article:a-1:events", 0, -1) == [b"e-2"]
    accept(short, "e-1")  # the dedup of its id ended with the record
    assert record(db, "e-1")["status"] == "queued"


def test_an_article_id_with_the_separator_has_an_index_of_its_own(events, db):
    accept(events, "e-1", article_id="a-1:events")
    assert db.zrange("syn:article:a-1%3Aevents:events", 0, -1) == [b"e-1"]
    assert not db.exists("syn:article:a-1:events:events")


def test_recent_holds_the_newest_ids_up_to_its_bound(events, db, monkeypatch):
    monkeypatch.setattr(events_module, "RECENT_KEPT", 3)
    for n in range(5):
        accept(events, f"e-{n}")
    assert db.zcard(RECENT) == 3
    assert events.recent_ids(10) == ["e-4", "e-3", "e-2"]
    assert events.recent_ids(2) == ["e-4", "e-3"]
    assert db.llen(READY) == 5  # the bound is the list's, not the queue's


def test_get_many_reads_the_records_in_order_with_none_for_one_that_is_gone(events, db):
    accept(events, "e-1")
    accept(events, "e-2", article_id="a-2")
    got = events.get_many(["e-2", "gone", "e-1"])
    assert [r and r["article_id"] for r in got] == ["a-2", None, "a-1"]
    assert got[0] is not None and json.loads(got[0]["body"])["id"] == "e-2"
    assert events.get_many([]) == []


def test_summaries_hold_the_status_fields_without_the_body(events, db):
    accept(events, "e-1")
    accept(events, "e-2")
    events.start("e-1")
    events.finish("e-1", "done", {"outcome": "applied"})
    summaries = events.summaries(["e-1", "e-2", "gone"])
    assert sorted(summaries) == ["e-1", "e-2"]
    assert all(set(s) == set(SUMMARY_FIELDS) for s in summaries.values())  # no body
    done, queued = summaries["e-1"], summaries["e-2"]
    assert done["status"] == "done" and done["attempts"] == "1" and done["error"] == ""
    assert json.loads(done["result"]) == {"outcome": "applied"} and float(done["finished_at"])
    assert queued["status"] == "queued" and queued["result"] == queued["finished_at"] == ""


def test_start_marks_the_event_processing_and_counts_an_attempt(events, db):
    accept(events, "e-1")
    events.start("e-1")
    events.start("e-1")
    stored = record(db, "e-1")
    assert stored["status"] == "processing" and stored["attempts"] == "2"


def test_failed_dead_letters_the_event_with_a_masked_bounded_error(events, db):
    accept(events, "e-1")
    events.start("e-1")
    before = time.time()
    events.finish("e-1", "failed", None, error="KeyError: token=hunter2-secret " + "x" * 600)
    stored = record(db, "e-1")
    assert stored["status"] == "failed"
    assert before - 1e-6 <= float(stored["finished_at"]) <= time.time() + 1e-6
    assert "hunter2" not in stored["error"] and "token=<redacted>" in stored["error"]
    assert len(stored["error"]) == 500 and json.loads(stored["result"]) == {}
    assert db.zscore(UNFINISHED, "e-1") is None  # finished: not the sweeper's
    assert before <= (db.zscore(DEAD, "event:e-1") or 0) <= time.time()
    assert db.hget(REASONS, "event:e-1") == b"internal"  # our side, unless the error says


@pytest.mark.parametrize(
    ("error", "reason"),
    [("ConnectionError: redis away", b"unreachable"), ("HTTP 503 from upstream", b"remote_5xx")],
)
def test_a_failure_is_dead_lettered_for_the_reason_its_error_gives(events, db, error, reason):
    accept(events, "e-1")
    events.finish("e-1", "failed", None, error=error)
    assert db.hget(REASONS, "event:e-1") == reason


def test_done_clears_the_events_dead_letter_and_no_other(events, db):
    for event_id in ("e-1", "e-2"):
        accept(events, event_id)
        events.finish(event_id, "failed", None, error="boom")
    db.hset(REPLAYED, "event:e-1", "1")  # the operator replays e-1 ...
    assert events.requeue("e-1")
    events.start("e-1")
    events.finish("e-1", "done", {"outcome": "applied"})  # ... and it works this time
    stored = record(db, "e-1")
    assert stored["status"] == "done" and stored["error"] == ""
    assert json.loads(stored["result"]) == {"outcome": "applied"}
    assert [m.decode() for m in db.zrange(DEAD, 0, -1)] == ["event:e-2"]
    assert db.hkeys(REASONS) == [b"event:e-2"] and not db.exists(REPLAYED)


def test_retry_puts_the_event_back_to_queued_and_due_in_the_schedule(events, db):
    accept(events, "e-1")
    events.start("e-1")
    before = time.time()
    events.retry("e-1", "TimeoutError: access_token=abc123 timed out", due_in_s=30)
    stored = record(db, "e-1")
    assert stored["status"] == "queued" and stored["attempts"] == "1"
    assert stored["error"] == "TimeoutError: access_token=<redacted> timed out"
    [(member, due)] = db.zrange("syn:schedule", 0, -1, withscores=True)
    assert json.loads(member) == {"task": "event", "args": ["e-1"]}
    assert before + 30 <= due <= time.time() + 30
    assert db.zscore(UNFINISHED, "e-1") == pytest.approx(due, abs=1)
    assert db.lrange(READY, 0, -1) == [b"e-1"]  # accept's: the retry waits for the scheduler
    assert events.unfinished(older_than=0) == []  # not overdue until it is due


def test_unfinished_lists_the_events_not_finished_for_that_long(events, db):
    accept(events, "e-1")
    accept(events, "e-2")
    events.finish("e-2", "done", {})
    time.sleep(0.05)
    assert events.unfinished(older_than=0.01) == ["e-1"]
    assert events.unfinished(older_than=60) == []


def test_requeue_brings_back_a_failed_event_with_fresh_attempts(events, db):
    accept(events, "e-1")
    for _ in range(3):
        events.start("e-1")
    events.finish("e-1", "failed", None, error="boom")
    before = time.time()
    assert events.requeue("e-1")
    stored = record(db, "e-1")
    assert stored["status"] == "queued" and stored["attempts"] == "0"
    assert before - 0.001 <= float(stored["replayed_at"]) <= time.time() + 0.001
    assert before <= (db.zscore(UNFINISHED, "e-1") or 0) <= time.time()
    assert db.lrange(READY, 0, -1) == [b"e-1"]  # accept's: the replay queues it itself


@pytest.mark.parametrize("status", ["queued", "processing", "done"])
def test_requeue_refuses_an_event_that_is_not_failed(events, db, status):
    accept(events, "e-1")
    if status != "queued":
        events.start("e-1")
    if status == "done":
        events.finish("e-1", "done", {})
    assert not events.requeue("e-1")
    assert record(db, "e-1")["status"] == status and "replayed_at" not in record(db, "e-1")


def test_requeue_of_an_event_that_is_gone_writes_nothing(events, db):
    assert not events.requeue("gone")
    assert db.keys("*") == []


def test_remove_in_leaves_no_trace_of_the_events_when_the_purge_commits(events, db):
    accept(events, "e-1")
    accept(events, "e-2")
    accept(events, "e-3", article_id="a-2")
    events.finish("e-1", "failed", None, error="boom")
    pipe = db.pipeline()
    remove_in(pipe, ["e-1", "e-2"], "a-1")
    assert db.exists("syn:event:e-1", "syn:event:e-2") == 2  # nothing before the commit
    pipe.execute()
    assert not db.exists("syn:event:e-1", "syn:event:e-2", "syn:article:a-1:events")
    assert db.zrange(RECENT, 0, -1) == db.zrange(UNFINISHED, 0, -1) == [b"e-3"]
    assert db.zcard(DEAD) == 0 and not db.exists(REASONS)
    assert record(db, "e-3")["status"] == "queued"
    assert db.zrange("syn:article:a-2:events", 0, -1) == [b"e-3"]


def test_finishing_an_event_purged_meanwhile_leaves_no_record_that_never_expires(events, db):
    accept(events, "e-1")
    events.start("e-1")
    pipe = db.pipeline()
    remove_in(pipe, ["e-1"], "a-1")  # `syndicate purge a-1` while e-1 is being applied
    pipe.execute()
    events.finish("e-1", "done", {"outcome": "applied"})
    assert db.ttl("syn:event:e-1") != -1  # gone (-2), or expiring with the retention
