"""worker/store/channels.py, each network's own state shared by the workers (a Bluesky session,
a Mastodon account id), on a private Redis: one hash per network, values stored as JSON and read
back as the same Python values (falsy ones included), a name never set reading as None, and a
delete removing only that name."""

from __future__ import annotations

import json

import pytest
import redis

from worker.store.channels import ChannelState, state_key


@pytest.fixture
def r(private_redis: redis.Redis) -> redis.Redis:
    private_redis.flushdb()
    return private_redis


def test_a_value_is_stored_as_json_in_the_networks_hash(r):
    ChannelState(r, "bluesky").set("session", {"accessJwt": "a", "did": "did:plc:x"})
    assert state_key("bluesky") == "syn:channel:bluesky"
    assert json.loads(r.hget("syn:channel:bluesky", "session")) == {
        "accessJwt": "a",
        "did": "did:plc:x",
    }


@pytest.mark.parametrize("value", [{"a": [1, 2.5, None]}, "109", 0, "", [], False, 1.5])
def test_a_value_reads_back_as_it_was_set_by_another_worker(r, value):
    ChannelState(r, "mastodon").set("account_id", value)
    got = ChannelState(r, "mastodon").get("account_id")  # a second worker's view
    assert got == value and type(got) is type(value)


def test_a_name_never_set_reads_as_none(r):
    assert ChannelState(r, "threads").get("deletes") is None


def test_networks_do_not_share_state(r):
    ChannelState(r, "mastodon").set("account_id", "1")
    ChannelState(r, "bluesky").set("account_id", "2")
    assert ChannelState(r, "mastodon").get("account_id") == "1"
    assert ChannelState(r, "bluesky").get("account_id") == "2"


def test_delete_removes_that_name_only(r):
    state = ChannelState(r, "bluesky")
    state.set("session", {"accessJwt": "a"})
    state.set("handle", "news.example")
    state.delete("session")
    assert state.get("session") is None and r.hget(state_key("bluesky"), "session") is None
    assert state.get("handle") == "news.example"
    state.delete("never-set")  # nothing to delete is no error
