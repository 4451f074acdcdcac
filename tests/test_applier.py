"""The appliers (worker/applier.py, worker/applying.py) and their queue in Redis
(worker/store/events.py): events taken in batches keep every guarantee a task per event gave.

- one bad event in a batch is dead-lettered alone, the rest of the batch is applied;
- a batch is applied in the order the events were queued (a newer version queued after an older
  one wins, and so does an older one queued after: the article's version decides);
- what a killed applier took is queued again by the sweeper once, and only that;
- a paused queue gives nothing out and loses nothing.

The pipeline tests run the session's real worker (its applier is a real process); the queue's own
semantics run on a private Redis, where no applier takes the events away."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import pytest
import redis

from tests.support import load_fixture, wait_for
from worker.store import keys
from worker.store.dead import event_letter
from worker.store.events import Events


def _event(n: int, **article: Any) -> dict:
    event = copy.deepcopy(load_fixture("seed-article-published"))
    event["id"] = f"evt-batch-{n}"
    event["article"].update(
        id=f"batch-{n}", url=f"https://news.example.org/batch-{n}.html", **article
    )
    event["article"]["share"]["networks"] = []
    return event


def test_one_bad_event_in_a_batch_is_dead_lettered_alone(service) -> None:
    events = Events(service.redis, 3600)
    events.pause(True)  # everything below is taken by the applier in one batch
    try:
        sent = [_event(n) for n in range(5)]
        for event in sent[:2]:
            assert service.send(event).status_code == 202
        # A record the API would never write (it validates first): a body that is not JSON.
        assert events.accept("evt-batch-poison", "article.published", "batch-x", "{nope")
        for event in sent[2:]:
            assert service.send(event).status_code == 202
        assert service.redis.llen(keys.READY) == 6
    finally:
        events.pause(False)
    poisoned = service.event_done("evt-batch-poison")
    assert poisoned["status"] == "failed" and "JSONDecodeError" in poisoned["error"]
    for event in sent:
        assert service.event_done(event["id"])["status"] == "done"
    assert service.redis.zcard(keys.UNFINISHED) == 0
    letters = [name.decode() for name in service.redis.zrange(keys.DEAD, 0, -1)]
    assert letters == [event_letter("evt-batch-poison")]


def test_a_batch_applies_in_queue_order_and_the_version_decides(service) -> None:
    events = Events(service.redis, 3600)
    events.pause(True)
    try:
        newer = _event(7, version=3, title="Newer")
        newer["id"] = "evt-batch-7-v3"
        older = _event(7, version=2, title="Older")
        older["id"] = "evt-batch-7-v2"
        assert service.send(newer).status_code == 202
        assert service.send(older).status_code == 202
    finally:
        events.pause(False)
    assert service.event_done("evt-batch-7-v3")["result"]["outcome"] == "applied"
    assert service.event_done("evt-batch-7-v2")["result"]["outcome"] == "stale"
    assert service.client.get("/articles/batch-7").json()["version"] == 3


@pytest.fixture
def queue(private_redis: redis.Redis) -> Events:
    private_redis.flushdb()
    return Events(private_redis, 3600)


def _accept(queue: Events, n: int) -> str:
    event = _event(n)
    assert queue.accept(event["id"], event["type"], event["article"]["id"], json.dumps(event))
    return event["id"]


def test_take_gives_events_oldest_first_in_batches_and_marks_them_taken(queue, private_redis):
    ids = [_accept(queue, n) for n in range(5)]
    assert queue.waiting() == 5
    assert queue.take(3, 0) == ids[:3]
    assert queue.take(3, 0) == ids[3:]
    assert queue.take(3, 0) == []
    assert queue.take(3, 0.2) == []  # waited, nothing came
    statuses = [private_redis.hget(keys.event_key(i), "status") for i in ids]
    assert statuses == [b"processing"] * 5


def test_what_a_killed_applier_took_is_queued_again_once_and_only_that(queue, private_redis):
    taken = [_accept(queue, n) for n in range(2)]
    assert queue.take(2, 0) == taken  # ... and the applier holding them is killed
    waiting = _accept(queue, 9)  # still in the ready list: not the sweeper's business
    time.sleep(0.05)
    assert sorted(queue.requeue_stale(older_than=0.01)) == sorted(taken)
    assert queue.requeue_stale(older_than=10) == []  # once a period, not once a sweep
    assert queue.waiting() == 3
    assert sorted(queue.take(10, 0)) == sorted([waiting, *taken])


def test_a_finished_event_queued_twice_is_not_taken_up_again(queue, private_redis):
    [event_id] = [_accept(queue, 1)]
    assert queue.take(1, 0) == [event_id]
    queue.finish(event_id, "done", {"outcome": "applied"})
    queue.push([event_id])  # a duplicate push (a replay racing a sweep)
    assert queue.take(1, 0) == [event_id]  # given out: the applier skips it as done
    assert private_redis.hget(keys.event_key(event_id), "status") == b"done"


def test_a_paused_queue_gives_nothing_and_loses_nothing(queue, private_redis):
    ids = [_accept(queue, n) for n in range(3)]
    queue.pause(True)
    started = time.monotonic()
    assert queue.take(10, 0.1) == []
    assert time.monotonic() - started >= 0.1
    assert queue.waiting() == 3
    queue.pause(False)
    assert queue.take(10, 0) == ids
    wait_for(lambda: queue.waiting() == 0, 1, "an empty queue")
