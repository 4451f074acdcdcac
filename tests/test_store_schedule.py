"""worker/store/schedule.py, delayed work, on a Redis of this module's own (no scheduler loop
to drain it): an item is a task and its arguments due at a time, one zset member per task and
arguments; `claim_due` hands out what is due, oldest first and within its limit, each item to
one claimer alone (several workers' scheduler loops drain the same schedule). What the scheduler
does with a claimed item is worker/scheduler.py's, run by the pipeline tests."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
import redis

from worker.store.schedule import Schedule, add_in

SCHEDULE = "syn:schedule"


@pytest.fixture
def schedule(db: redis.Redis) -> Schedule:
    return Schedule(db)


def items(db: redis.Redis) -> list[tuple[dict, float]]:
    return [(json.loads(m), due) for m, due in db.zrange(SCHEDULE, 0, -1, withscores=True)]


def test_add_schedules_the_task_and_its_args_due_in_that_many_seconds(schedule, db):
    before = time.time()
    schedule.add("hubdeliver", ["sub-1"], 30)
    [(item, due)] = items(db)
    assert item == {"task": "hubdeliver", "args": ["sub-1"]}
    assert before + 30 <= due <= time.time() + 30


def test_claim_due_takes_only_what_is_due_oldest_first(schedule, db):
    schedule.add("render", ["tag/later"], 60)
    schedule.add("render", ["tag/second"], -1)
    schedule.add("indexnow", [""], -5)
    assert schedule.claim_due() == [("indexnow", [""]), ("render", ["tag/second"])]
    assert schedule.claim_due() == []  # claimed: gone from the schedule
    assert [item for item, _ in items(db)] == [{"task": "render", "args": ["tag/later"]}]


def test_claim_due_takes_at_most_its_limit(schedule, db):
    for n in range(5):
        schedule.add("takedown", [f"a-{n}"], -10 + n)
    assert schedule.claim_due(limit=2) == [("takedown", ["a-0"]), ("takedown", ["a-1"])]
    assert db.zcard(SCHEDULE) == 3
    assert [args for _, args in schedule.claim_due(limit=10)] == [["a-2"], ["a-3"], ["a-4"]]


def test_the_same_task_and_args_are_one_item_due_when_last_scheduled(schedule, db):
    schedule.add("podping", [], 60)
    schedule.add("podping", [], -1)  # scheduled again, sooner
    schedule.add("podping", ["other"], 60)
    assert db.zcard(SCHEDULE) == 2
    assert schedule.claim_due() == [("podping", [])]
    assert schedule.claim_due() == []


def test_each_due_item_goes_to_one_claimer_only(db):
    pipe = db.pipeline()
    for n in range(300):
        add_in(pipe, "event", [f"e-{n}"], -1)
    pipe.execute()
    claimed: list[list[tuple[str, list[Any]]]] = [[] for _ in range(4)]
    gate = threading.Barrier(4)

    def drain(mine: list[tuple[str, list[Any]]]) -> None:
        loop = Schedule(db)  # one scheduler loop of one worker
        gate.wait()
        while batch := loop.claim_due(limit=10):
            mine.extend(batch)

    threads = [threading.Thread(target=drain, args=(mine,)) for mine in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [args[0] for mine in claimed for _, args in mine]
    assert sorted(everything) == sorted(f"e-{n}" for n in range(300))  # each exactly once
    assert db.zcard(SCHEDULE) == 0


def test_add_in_schedules_inside_the_callers_transaction_as_add_does(schedule, db):
    pipe = db.pipeline()
    add_in(pipe, "event", ["e-1"], 10)
    assert db.zcard(SCHEDULE) == 0  # nothing before the commit
    before = time.time()
    pipe.execute()
    schedule.add("event", ["e-1"], 20)  # the same item: one member, moved
    [(item, due)] = items(db)
    assert item == {"task": "event", "args": ["e-1"]} and due >= before + 20
