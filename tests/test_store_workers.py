"""worker/store/workers.py, the heartbeats of workers and renderers and the service's published
settings, on a private Redis: a heartbeat makes its sender live for `within_s` seconds, one
older is not live, one older than an hour is removed from the sorted set when the live ones are
read, workers and renderers are kept apart, and the settings are read back as published (no
settings published reads as None). A heartbeat's age is set by writing its score as the
sender's last beat would have."""

from __future__ import annotations

import json
import time

import pytest
import redis

from worker.store.workers import RENDERERS, SERVICE, WORKERS, Workers


@pytest.fixture
def workers(private_redis: redis.Redis) -> Workers:
    private_redis.flushdb()
    return Workers(private_redis)


def beat_ago(r: redis.Redis, key: str, name: str, seconds: float) -> None:
    r.zadd(key, {name: time.time() - seconds})


def test_a_heartbeat_is_recorded_with_its_time(workers, private_redis):
    workers.heartbeat("worker@a")
    workers.renderer_heartbeat("a:123")
    assert abs(private_redis.zscore(WORKERS, "worker@a") - time.time()) < 5
    assert abs(private_redis.zscore(RENDERERS, "a:123") - time.time()) < 5
    assert workers.live() == ["worker@a"]
    assert workers.live_renderers() == ["a:123"]  # each its own set


def test_live_means_a_heartbeat_within_the_window(workers, private_redis):
    workers.heartbeat("fresh")
    beat_ago(private_redis, WORKERS, "quiet", 20)
    assert workers.live() == ["fresh"]
    assert sorted(workers.live(within_s=30)) == ["fresh", "quiet"]
    workers.renderer_heartbeat("b:1")
    beat_ago(private_redis, RENDERERS, "b:2", 20)
    assert workers.live_renderers() == ["b:1"]
    assert sorted(workers.live_renderers(within_s=30)) == ["b:1", "b:2"]


def test_a_heartbeat_older_than_an_hour_is_removed_on_reading(workers, private_redis):
    beat_ago(private_redis, WORKERS, "gone", 3700)
    beat_ago(private_redis, WORKERS, "quiet", 600)
    beat_ago(private_redis, RENDERERS, "gone:1", 3700)
    beat_ago(private_redis, RENDERERS, "quiet:1", 600)
    assert workers.live() == [] and workers.live_renderers() == []
    assert private_redis.zrange(WORKERS, 0, -1) == [b"quiet"]
    assert private_redis.zrange(RENDERERS, 0, -1) == [b"quiet:1"]


def test_a_second_heartbeat_moves_the_same_member(workers, private_redis):
    beat_ago(private_redis, WORKERS, "worker@a", 100)
    workers.heartbeat("worker@a")
    assert private_redis.zcard(WORKERS) == 1 and workers.live() == ["worker@a"]


def test_the_published_settings_are_read_back(workers, private_redis):
    assert workers.config() is None
    workers.publish_config({"networks": ["mastodon"], "activitypub": True})
    assert json.loads(private_redis.get(SERVICE)) == {
        "activitypub": True,
        "networks": ["mastodon"],
    }
    workers.publish_config({"networks": []})  # a restart with other settings replaces them
    assert workers.config() == {"networks": []}
