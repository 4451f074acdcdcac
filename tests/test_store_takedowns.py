"""worker/store/takedowns.py, the progress of a takedown (`syndicate purge`), on a private Redis:
a request queues it and a second request starts it over, `rendering` records the targets, the
deadline and the report, `progress` only the report, `finish` the end state; `get` reads the
hash back with its JSON fields decoded, and the key keeps an id's `:` from naming another's.
The takedown itself is tests/test_takedown.py's."""

from __future__ import annotations

import time

import pytest
import redis

from worker.store.takedowns import Takedowns, takedown_key


@pytest.fixture
def takedowns(private_redis: redis.Redis) -> Takedowns:
    private_redis.flushdb()
    return Takedowns(private_redis)


def test_the_key_encodes_the_article_id() -> None:
    assert takedown_key("a1") == "syn:takedown:a1"
    assert takedown_key("a:b") == "syn:takedown:a%3Ab"
    assert takedown_key("a:b") != takedown_key("a%3Ab")


def test_an_unknown_takedown_reads_empty(takedowns):
    assert takedowns.get("nobody") == {}


def test_a_takedown_moves_from_queued_through_rendering_to_its_end(takedowns, private_redis):
    takedowns.request("a:1")
    assert private_redis.hget(takedown_key("a:1"), "state") == b"queued"
    record = takedowns.get("a:1")
    assert set(record) == {"state", "requested_at"}
    assert abs(float(record["requested_at"]) - time.time()) < 5

    deadline = time.time() + 120
    takedowns.rendering("a:1", {"all": 7, "tag/nato": 3}, deadline, {"feeds": 2})
    record = takedowns.get("a:1")
    assert record["state"] == "rendering"
    assert record["targets"] == {"all": 7, "tag/nato": 3}
    assert record["report"] == {"feeds": 2}
    assert float(record["deadline"]) == pytest.approx(deadline, abs=0.001)
    assert float(record["started_at"]) >= float(record["requested_at"])

    takedowns.progress("a:1", {"feeds": 2, "log": "started"})
    record = takedowns.get("a:1")
    assert record["state"] == "rendering" and record["report"] == {"feeds": 2, "log": "started"}

    takedowns.finish("a:1", "done", {"feeds": 2, "log": "rewritten"})
    record = takedowns.get("a:1")
    assert record["state"] == "done" and record["report"]["log"] == "rewritten"
    assert record["targets"] == {"all": 7, "tag/nato": 3}  # kept: what it waited for
    assert float(record["finished_at"]) >= float(record["started_at"])
    assert takedowns.get("a") == {}  # the id's `:` names no other article's takedown


def test_a_second_request_starts_over(takedowns, private_redis):
    takedowns.request("a1")
    takedowns.rendering("a1", {"all": 1}, time.time() + 120, {"feeds": 1})
    takedowns.finish("a1", "incomplete", {"error": "deadline"})
    takedowns.request("a1")
    record = takedowns.get("a1")
    assert record["state"] == "queued"
    assert set(record) == {"state", "requested_at"}  # nothing of the last one left
