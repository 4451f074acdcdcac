"""worker/store/actions.py, what operators did, on a Redis of this module's own: an action is
recorded with when, who (the OS user unless told) and a masked one-line detail, only for the
known kinds; the list holds the newest KEPT and reads newest first, skipping what is not an
action. The status page's list of them, a purge and a Retry among them, is
tests/test_status_page.py's."""

from __future__ import annotations

import json
import time

import pytest
import redis

from worker.store.actions import DETAIL_MAX, KEPT, Actions

ACTIONS = "syn:actions"


@pytest.fixture
def actions(db: redis.Redis) -> Actions:
    return Actions(db)


def test_an_action_is_recorded_with_when_who_what_and_the_detail(actions, db):
    before = time.time()
    actions.record("purge", "a-1", who="alice")
    [raw] = db.lrange(ACTIONS, 0, -1)
    entry = json.loads(raw)
    assert set(entry) == {"at", "who", "what", "detail"}
    assert entry["who"] == "alice" and entry["what"] == "purge" and entry["detail"] == "a-1"
    assert before - 0.001 <= entry["at"] <= time.time() + 0.001 and entry["at"] == round(
        entry["at"], 3
    )


def test_newest_reads_the_actions_newest_first(actions, db):
    actions.record("backfill", "archive.jsonl: 3 lines", who="alice")
    actions.record("replay", "event:e-1", who="status page")
    actions.record("unpurge", "a-1: restored by the desk", who="bob")
    newest = actions.newest()
    assert [(a["what"], a["who"]) for a in newest] == [
        ("unpurge", "bob"),
        ("replay", "status page"),
        ("backfill", "alice"),
    ]
    assert [a["what"] for a in actions.newest(2)] == ["unpurge", "replay"]


def test_who_is_the_os_user_unless_told_and_is_bounded(actions, db, monkeypatch):
    monkeypatch.setenv("LOGNAME", "desk-operator")  # what getpass reads first
    actions.record("rebuild")
    actions.record("rebuild", who="x" * 100)
    long_name, os_user = actions.newest()
    assert os_user["who"] == "desk-operator" and os_user["detail"] == ""
    assert long_name["who"] == "x" * 64


def test_an_unknown_kind_of_action_is_refused_and_not_recorded(actions, db):
    with pytest.raises(ValueError, match="unknown operator action"):
        actions.record("flushall", "everything")
    assert not db.exists(ACTIONS)


def test_the_detail_is_masked_on_one_line_and_bounded(actions, db):
    actions.record("replay", "delivery:a-1:x\n  with\ttoken=s3cr3t-value  retried", who="bob")
    actions.record("backfill", "y" * 1000, who="bob")
    bounded, masked = actions.newest()
    assert masked["detail"] == "delivery:a-1:x with token=<redacted> retried"
    assert bounded["detail"] == "y" * DETAIL_MAX


def test_the_list_holds_the_newest_kept_and_reads_no_more(actions, db):
    for n in range(KEPT + 5):
        actions.record("rebuild", str(n), who="cron")
    assert db.llen(ACTIONS) == KEPT
    every = actions.newest(KEPT + 100)
    assert len(every) == KEPT
    assert every[0]["detail"] == str(KEPT + 4) and every[-1]["detail"] == "5"


def test_newest_skips_what_is_not_an_action(actions, db):
    actions.record("purge", "a-1", who="alice")
    db.lpush(ACTIONS, b"not json", b"[1, 2]", b"\xff\xfe")
    actions.record("unpurge", "a-1: restored", who="alice")
    assert [a["what"] for a in actions.newest()] == ["unpurge", "purge"]


def test_newest_of_none_is_nothing(actions, db):
    actions.record("purge", "a-1", who="alice")
    assert actions.newest(0) == []
