"""worker/store/activity.py, what the service did hour by hour and when the CMS's events
arrived, on a Redis of this module's own: an accepted event counts in the hour it was accepted
(an applier counts a whole batch at once) and as an arrival with no id in it; a sent post counts
in its hour; `hours` reads the chart's window, the current hour last, within the two days an
hour is kept; the arrivals hold the last 24 hours and at most ARRIVALS_KEPT. The chart and the
quiet warning drawn from them are tests/test_status_page.py's."""

from __future__ import annotations

import re
import time

import pytest
import redis

from worker.store import activity as activity_module
from worker.store.activity import DAY_S, HOUR_S, KEPT_S, POSTS, Activity, add_in

ARRIVALS = "syn:activity:arrivals"


@pytest.fixture
def activity(db: redis.Redis) -> Activity:
    return Activity(db)


def hour_of(at: float) -> str:
    return f"syn:activity:{int(at // HOUR_S)}"


def post(db: redis.Redis, at: float) -> None:
    pipe = db.pipeline()
    add_in(pipe, POSTS, at)
    pipe.execute()


def test_an_accepted_event_counts_in_its_hour_and_as_an_arrival_without_its_id(activity, db):
    now = time.time()
    activity.event_accepted(now)
    assert db.hgetall(hour_of(now)) == {b"events": b"1"}
    [(arrival, at)] = db.zrange(ARRIVALS, 0, -1, withscores=True)
    assert at == pytest.approx(now)
    assert re.fullmatch(rb"\d+\.\d{6}:[0-9a-f]{8}", arrival)  # a time and a random tag
    assert 0 < db.ttl(ARRIVALS) <= DAY_S


def test_events_at_the_same_moment_are_as_many_arrivals(activity, db):
    now = time.time()
    activity.event_accepted(now)
    activity.event_accepted(now)
    assert db.zcard(ARRIVALS) == 2 and db.hget(hour_of(now), "events") == b"2"


def test_a_batch_counts_each_event_in_the_hour_it_was_accepted(activity, db):
    half_past = (time.time() // HOUR_S) * HOUR_S - HOUR_S / 2  # the middle of the last hour
    activity.events_accepted([half_past - HOUR_S, half_past - 1, half_past])
    assert db.hget(hour_of(half_past - HOUR_S), "events") == b"1"
    assert db.hget(hour_of(half_past), "events") == b"2"
    expected = [half_past - HOUR_S, half_past - 1, half_past]
    assert activity.arrivals() == pytest.approx(expected)
    activity.events_accepted([])
    assert db.zcard(ARRIVALS) == 3


def test_nothing_accepted_writes_nothing(activity, db):
    activity.events_accepted([])
    assert db.dbsize() == 0


def test_a_sent_post_counts_in_its_hour_and_each_hour_is_kept_two_days(db):
    now = time.time()
    post(db, now)
    post(db, now)
    assert db.hgetall(hour_of(now)) == {b"posts": b"2"}
    # Kept past the chart's longest window: 48 hours from the hour's start.
    assert KEPT_S - (now % HOUR_S) - 5 <= db.ttl(hour_of(now)) <= KEPT_S


def test_hours_reads_the_window_oldest_first_with_the_current_hour_last(activity, db):
    now = time.time()
    current = int(now // HOUR_S)
    activity.event_accepted(now)
    activity.event_accepted(now - 2 * HOUR_S)
    post(db, now)
    assert activity.hours(3, now) == [
        ((current - 2) * HOUR_S, 1, 0),
        ((current - 1) * HOUR_S, 0, 0),
        (current * HOUR_S, 1, 1),
    ]
    an_hour_on = activity.hours(2, now + HOUR_S)
    assert an_hour_on == [(current * HOUR_S, 1, 1), ((current + 1) * HOUR_S, 0, 0)]


def test_hours_reads_at_least_one_hour_and_at_most_the_two_days_kept(activity, db):
    now = time.time()
    activity.event_accepted(now)
    assert activity.hours(0, now) == [(int(now // HOUR_S) * HOUR_S, 1, 0)]
    longest = activity.hours(1000, now)
    assert len(longest) == KEPT_S // HOUR_S and longest[-1][1] == 1


def test_arrivals_are_those_of_the_last_day_oldest_first(activity, db):
    now = time.time()
    activity.event_accepted(now - DAY_S - 120)
    activity.event_accepted(now - 3 * HOUR_S)
    activity.event_accepted(now - 60)
    assert db.zcard(ARRIVALS) == 2  # the one older than a day is trimmed
    assert activity.arrivals(now) == pytest.approx([now - 3 * HOUR_S, now - 60])
    assert activity.arrivals(now + DAY_S - HOUR_S) == pytest.approx([now - 60])


def test_the_arrivals_keep_only_the_newest(activity, db, monkeypatch):
    monkeypatch.setattr(activity_module, "ARRIVALS_KEPT", 5)
    now = time.time()
    activity.events_accepted([now - 100 + n for n in range(8)])
    activity.event_accepted(now)
    assert db.zcard(ARRIVALS) == 5
    assert activity.arrivals(now) == pytest.approx([now - 100 + n for n in (4, 5, 6, 7)] + [now])
