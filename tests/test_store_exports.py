"""worker/store/exports.py, the static export's state per feed, on a private Redis: the ETags
recorded for the bytes on disk (read back per format, `None` for one never written), a write
that works clearing the failures, a failure counted with its reason masked and cut to 300
characters, `failing` naming only the feeds whose export fails now, and `forget` leaving no key
behind. The files themselves are tests/test_export.py's."""

from __future__ import annotations

import time

import pytest
import redis

from worker.store.exports import Exports, export_key


@pytest.fixture
def exports(private_redis: redis.Redis) -> Exports:
    private_redis.flushdb()
    return Exports(private_redis)


def fields(r: redis.Redis, feed_key: str) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in r.hgetall(export_key(feed_key)).items()}


def test_the_key_is_the_feeds_own_export_hash() -> None:
    assert export_key("tag/nato") == "syn:feed:tag/nato:export"


def test_etags_are_read_back_per_format_and_none_for_one_never_written(exports, private_redis):
    assert exports.etags("all", ["rss", "atom"]) == [None, None]
    exports.written("all", {"rss": '"r1"', "atom": '"a1"'})
    assert exports.etags("all", ["atom", "json", "rss"]) == ['"a1"', None, '"r1"']
    stored = fields(private_redis, "all")
    assert stored["failures"] == "0"
    assert abs(float(stored["written_at"]) - time.time()) < 5
    assert exports.etags("tag/nato", ["rss"]) == [None]  # another feed's hash is its own


def test_a_later_write_replaces_only_the_formats_it_names(exports, private_redis):
    exports.written("all", {"rss": '"r1"', "atom": '"a1"'})
    exports.written("all", {"rss": '"r2"'})
    assert exports.etags("all", ["rss", "atom"]) == ['"r2"', '"a1"']


def test_failures_are_counted_until_a_write_works(exports, private_redis):
    assert exports.failed("all", "export: OSError: disk full") == 1
    assert exports.failed("all", "export: OSError: still full") == 2
    stored = fields(private_redis, "all")
    assert stored["failures"] == "2" and stored["error"] == "export: OSError: still full"
    assert abs(float(stored["failed_at"]) - time.time()) < 5
    assert exports.error("all") == "export: OSError: still full"

    exports.written("all", {"rss": '"r1"'})
    stored = fields(private_redis, "all")
    assert stored["failures"] == "0"
    assert "error" not in stored and "failed_at" not in stored
    assert exports.error("all") == ""
    assert exports.failed("all", "again") == 1  # counted afresh from the write that worked


def test_a_failure_reason_is_masked_and_cut(exports, private_redis):
    exports.failed("all", "export: to https://user:hunter2@files.example/ Bearer abc.def")
    error = exports.error("all")
    assert "hunter2" not in error and "abc.def" not in error
    assert "<redacted>" in error
    exports.failed("all", "x" * 1000)
    assert private_redis.hget(export_key("all"), "error") == b"x" * 300


def test_failing_names_only_the_feeds_failing_now(exports):
    exports.failed("tag/nato", "export: PermissionError: denied")
    exports.failed("all", "export: OSError: gone")
    exports.written("all", {"rss": '"r"'})  # mended
    exports.written("audio", {"rss": '"r"'})
    assert exports.failing(["all", "tag/nato", "audio", "never"]) == {
        "tag/nato": "export: PermissionError: denied"
    }
    assert exports.failing([]) == {}


def test_forget_removes_the_feeds_export_state(exports, private_redis):
    exports.written("tag/gone", {"rss": '"r"'})
    exports.failed("tag/gone", "boom")
    exports.written("all", {"rss": '"r"'})
    exports.forget("tag/gone")
    assert not private_redis.exists(export_key("tag/gone"))
    assert exports.etags("tag/gone", ["rss"]) == [None] and exports.error("tag/gone") == ""
    assert exports.etags("all", ["rss"]) == ['"r"']  # the others stay
