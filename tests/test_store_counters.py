"""worker/store/counters.py, the counters behind the metrics and the status page, on a private
Redis: one hash `syn:counters` whose field names are built only here, amounts added (in one
transaction, or inside another's with `add_in`) and read back as `Totals`: renders and their
seconds as floats, deliveries per network and state, retries per network, failed hub pings as
the `websub` retries; an empty hash reads as zeros."""

from __future__ import annotations

import pytest
import redis

from worker.store import counters
from worker.store.counters import COUNTERS, RENDER_SECONDS, RENDERS, Counters


@pytest.fixture
def store(private_redis: redis.Redis) -> Counters:
    private_redis.flushdb()
    return Counters(private_redis)


def test_the_names_in_the_hash() -> None:
    assert COUNTERS == "syn:counters"
    assert counters.delivery("mastodon", "sent") == "delivery:mastodon:sent"
    assert counters.retries("bluesky") == "retries:bluesky"
    assert (counters.pings(True), counters.pings(False)) == ("pings:ok", "pings:failed")


def test_nothing_counted_reads_as_zeros(store):
    totals = store.totals()
    assert (totals.renders, totals.render_seconds) == (0.0, 0.0)
    assert totals.deliveries == {} and totals.retries == {}


def test_amounts_add_up_and_read_back_by_kind(store, private_redis):
    store.add({RENDERS: 1, RENDER_SECONDS: 0.25, counters.delivery("mastodon", "sent"): 1})
    store.add({RENDERS: 1, RENDER_SECONDS: 0.5, counters.delivery("mastodon", "sent"): 1})
    store.add({counters.delivery("mastodon", "failed"): 1, counters.delivery("x", "sent"): 3})
    store.add({counters.retries("mastodon"): 2, counters.pings(False): 1})
    store.add({counters.pings(False): 1, counters.pings(True): 7})
    assert float(private_redis.hget(COUNTERS, RENDER_SECONDS)) == 0.75

    totals = store.totals()
    assert (totals.renders, totals.render_seconds) == (2.0, 0.75)
    assert totals.deliveries == {"mastodon": {"sent": 2, "failed": 1}, "x": {"sent": 3}}
    assert totals.retries == {"mastodon": 2, "websub": 2}  # pings that worked are no retries


def test_a_state_name_with_a_colon_stays_whole(store):
    store.add({counters.delivery("threads", "retry:later"): 1})
    assert store.totals().deliveries == {"threads": {"retry:later": 1}}


def test_add_in_counts_inside_the_callers_transaction(store, private_redis):
    pipe = private_redis.pipeline()
    counters.add_in(pipe, RENDERS)
    counters.add_in(pipe, RENDER_SECONDS, 1.5)
    assert private_redis.hget(COUNTERS, RENDERS) is None  # nothing before EXEC
    pipe.execute()
    totals = store.totals()
    assert (totals.renders, totals.render_seconds) == (1.0, 1.5)
