"""worker/store/podping.py, which bytes of a feed Podping was told about, on a private Redis:
the intent (the ETag and the attempt's number) before each GET, a success recording the bytes
announced, counting it, starting the attempts afresh and removing the dead letter, a failure
recording the answer without touching the attempts, the reset a replay makes, and a lock per
feed. The notifications are tests/test_indexnow_podping.py's."""

from __future__ import annotations

import time

import pytest
import redis

from worker.store.dead import DeadLetters, Reason
from worker.store.podping import Podpings, letter, lock_key, state_key


@pytest.fixture
def r(private_redis: redis.Redis) -> redis.Redis:
    private_redis.flushdb()
    return private_redis


def test_the_keys_are_the_feeds() -> None:
    assert state_key("audio") == "syn:podping:audio"
    assert lock_key("audio") == "syn:podping:audio:lock"
    assert letter("audio") == "podping:audio"


def test_nothing_announced_reads_empty(r):
    assert Podpings(r, "audio").state() == {}


def test_the_intent_is_recorded_before_each_get(r):
    store = Podpings(r, "audio")
    assert store.sending('"e1"') == 1
    assert store.sending('"e2"') == 2
    state = Podpings(r, "audio").state()
    assert state["attempts"] == "2" and state["sending_etag"] == '"e2"'
    assert abs(float(state["sending_at"]) - time.time()) < 5
    assert "sent_etag" not in state  # nothing announced yet


def test_a_success_records_the_bytes_and_starts_afresh(r):
    store = Podpings(r, "audio")
    dead = DeadLetters(r)
    dead.add(letter("audio"), Reason.REMOTE_5XX)
    store.sending('"e1"')
    store.failed(503, "HTTP 503: busy")
    store.sending('"e1"')
    store.sent('"e1"', 200)
    state = store.state()
    assert (state["sent_etag"], state["attempts"], state["sent"]) == ('"e1"', "0", "1")
    assert (state["last_status"], state["last_error"]) == ("200", "")
    assert abs(float(state["sent_at"]) - time.time()) < 5
    assert not dead.contains(letter("audio"))
    store.sending('"e2"')
    store.sent('"e2"', 200)
    assert store.state()["sent"] == "2" and store.state()["sent_etag"] == '"e2"'


def test_a_failure_records_the_answer_and_leaves_the_attempts(r):
    store = Podpings(r, "audio")
    store.sending('"e1"')
    store.failed(None, "unreachable: " + "x" * 400)
    state = store.state()
    assert state["last_status"] == "" and state["attempts"] == "1"
    assert state["last_error"] == ("unreachable: " + "x" * 400)[:300]
    store.failed(401, "HTTP 401: bad token")
    assert store.state()["last_status"] == "401"
    assert "sent_etag" not in store.state()


def test_a_reset_gives_fresh_attempts_and_keeps_what_was_announced(r):
    store = Podpings(r, "audio")
    store.sending('"e1"')
    store.sent('"e1"', 200)
    store.sending('"e2"')
    store.sending('"e2"')
    store.reset_attempts()
    state = store.state()
    assert state["attempts"] == "0" and state["sent_etag"] == '"e1"'
    assert store.sending('"e2"') == 1


def test_one_worker_at_a_time_notifies_a_feed(r):
    audio, other = Podpings(r, "audio"), Podpings(r, "tag/podcast")
    assert audio.lock(10)
    assert not Podpings(r, "audio").lock(10)
    assert other.lock(10)  # another feed's lock is its own
    assert 9_000 < r.pttl(lock_key("audio")) <= 10_000
    audio.unlock()
    assert not r.exists(lock_key("audio")) and r.exists(lock_key("tag/podcast"))
    assert audio.lock(10)


def test_feeds_do_not_share_state(r):
    Podpings(r, "audio").sending('"e1"')
    assert Podpings(r, "tag/podcast").state() == {}
    assert r.hget(state_key("audio"), "sending_etag") == b'"e1"'
