"""worker/store/sessions.py, operator sessions and sign-in limits, on a Redis of this module's
own: a session is a random id that lives in Redis for its time and ends everywhere at once when
it is ended; failed sign-ins are counted per client address and in all, each count in a window
that starts at its first failure; `login_blocked` says how long to wait once either count is at
its limit, and a success clears only its own address. The HTTP side (cookies, 429s, CSRF) is
tests/test_security.py's and tests/test_api_hardening.py's."""

from __future__ import annotations

import re

import pytest
import redis

from tests.support import wait_for
from worker.store.sessions import Sessions

EVERYONE = "syn:login:failures"
ALICE, BOB = "192.0.2.1", "2001:db8::2"


@pytest.fixture
def sessions(db: redis.Redis) -> Sessions:
    return Sessions(db)


def test_a_session_lives_in_redis_for_its_time(sessions, db):
    session_id = sessions.start(ttl_s=600)
    assert db.get(f"syn:session:{session_id}") == b"1"
    assert 590 < db.ttl(f"syn:session:{session_id}") <= 600
    assert sessions.active(session_id)
    assert not sessions.active("not-a-session") and not sessions.active("")


def test_session_ids_are_random_192_bits_in_url_safe_text(sessions, db):
    ids = {sessions.start(ttl_s=60) for _ in range(200)}
    assert len(ids) == 200
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{32}", i) for i in ids)  # 24 bytes, base64url
    assert db.dbsize() == 200


def test_an_ended_session_is_refused_everywhere_at_once(sessions, db):
    session_id = sessions.start(ttl_s=600)
    other_process = Sessions(db)  # another API process holding the same cookie
    assert other_process.active(session_id)
    sessions.end(session_id)
    assert not other_process.active(session_id) and not sessions.active(session_id)
    assert not db.exists(f"syn:session:{session_id}")
    sessions.end(session_id)  # ending it again changes nothing
    assert sessions.start(ttl_s=600) != session_id


def test_a_session_ends_by_itself_when_its_time_is_up(sessions):
    session_id = sessions.start(ttl_s=1)
    wait_for(lambda: not sessions.active(session_id), 5, "the session to expire")


def test_failures_are_counted_per_address_and_in_all_within_the_window(sessions, db):
    for address in (ALICE, ALICE, BOB):
        sessions.login_failed(address, window_s=300)
    assert db.get(f"syn:login:failures:{ALICE}") == b"2"
    assert db.get(f"syn:login:failures:{BOB}") == b"1"
    assert db.get(EVERYONE) == b"3"
    for key in (f"syn:login:failures:{ALICE}", f"syn:login:failures:{BOB}", EVERYONE):
        assert 290 < db.ttl(key) <= 300


def test_a_window_starts_at_its_first_failure_and_is_not_pushed_back(sessions, db):
    sessions.login_failed(ALICE, window_s=100)
    sessions.login_failed(ALICE, window_s=10_000)  # a later failure does not extend it
    assert 0 < db.ttl(f"syn:login:failures:{ALICE}") <= 100
    assert 0 < db.ttl(EVERYONE) <= 100


def test_a_count_left_without_an_expiry_gets_one_at_the_next_failure(sessions, db):
    db.set(EVERYONE, 7)  # e.g. a restore that lost the expiry
    sessions.login_failed(ALICE, window_s=100)
    assert db.get(EVERYONE) == b"8" and 0 < db.ttl(EVERYONE) <= 100


def test_an_address_at_its_limit_waits_for_its_window_and_others_do_not(sessions, db):
    for _ in range(2):
        sessions.login_failed(ALICE, window_s=300)
    assert sessions.login_blocked(ALICE, per_address=3, in_all=100) == 0
    sessions.login_failed(ALICE, window_s=300)
    wait = sessions.login_blocked(ALICE, per_address=3, in_all=100)
    assert 290 < wait <= db.ttl(f"syn:login:failures:{ALICE}") + 1
    assert sessions.login_blocked(BOB, per_address=3, in_all=100) == 0


def test_everybody_waits_once_the_failures_in_all_are_at_their_limit(sessions, db):
    for n in range(5):
        sessions.login_failed(f"198.51.100.{n}", window_s=300)
    wait = sessions.login_blocked(BOB, per_address=3, in_all=5)
    assert 290 < wait <= 300
    assert sessions.login_blocked(BOB, per_address=3, in_all=6) == 0


def test_a_blocked_address_is_told_to_wait_at_least_a_second(sessions, db):
    db.set(f"syn:login:failures:{ALICE}", 9)  # at the limit, and no expiry to report
    assert sessions.login_blocked(ALICE, per_address=3, in_all=100) == 1


def test_the_block_lifts_when_the_window_ends(sessions, db):
    for _ in range(3):
        sessions.login_failed(ALICE, window_s=1)
    assert sessions.login_blocked(ALICE, per_address=3, in_all=100) >= 1
    wait_for(
        lambda: sessions.login_blocked(ALICE, per_address=3, in_all=100) == 0,
        5,
        "the window to end",
    )


def test_a_success_clears_its_own_address_and_not_the_total(sessions, db):
    for address in (ALICE, ALICE, ALICE, BOB):
        sessions.login_failed(address, window_s=300)
    sessions.login_succeeded(ALICE)
    assert not db.exists(f"syn:login:failures:{ALICE}")
    assert db.get(f"syn:login:failures:{BOB}") == b"1" and db.get(EVERYONE) == b"4"
    assert sessions.login_blocked(ALICE, per_address=3, in_all=5) == 0
    sessions.login_failed(BOB, window_s=300)  # the fifth failure in all
    assert sessions.login_blocked(ALICE, per_address=3, in_all=5) > 0
