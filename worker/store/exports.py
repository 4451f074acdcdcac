"""The static export's own state per feed: which bytes are on disk, and its failures.

hash `syn:feed:<key>:export`: etag:<fmt> (the bytes last written to the export folder),
written_at, failures (since the last write that worked), error, failed_at.

The export follows the published bytes: a render publishes to Redis first (readers of the API,
a retraction above all, never wait on a disk), then writes the files when their ETags differ
from the ones here, and only then are the hubs told (they may fetch the files).
"""

from __future__ import annotations

import time

from syndicate.logs import mask
from worker.store._prefix import PREFIX, Client


def export_key(feed_key: str) -> str:
    return f"{PREFIX}feed:{feed_key}:export"


class Exports:
    def __init__(self, client: Client) -> None:
        self._r = client

    def etags(self, feed_key: str, fmts: list[str]) -> list[str | None]:
        raw = self._r.hmget(export_key(feed_key), [f"etag:{fmt}" for fmt in fmts])
        return [v.decode() if v else None for v in raw]

    def written(self, feed_key: str, etags: dict[str, str]) -> None:
        key = export_key(feed_key)
        pipe = self._r.pipeline()
        pipe.hset(
            key,
            mapping={
                **{f"etag:{fmt}": etag for fmt, etag in etags.items()},
                "written_at": f"{time.time():.3f}",
                "failures": 0,
            },
        )
        pipe.hdel(key, "error", "failed_at")
        pipe.execute()

    def failed(self, feed_key: str, reason: str) -> int:
        """Record a failed write; returns the failures since the last write that worked."""
        key = export_key(feed_key)
        pipe = self._r.pipeline()
        pipe.hincrby(key, "failures", 1)
        pipe.hset(key, mapping={"error": mask(reason)[:300], "failed_at": f"{time.time():.3f}"})
        return int(pipe.execute()[0])

    def error(self, feed_key: str) -> str:
        raw = self._r.hget(export_key(feed_key), "error")
        return raw.decode() if raw else ""

    def failing(self, feed_keys: list[str]) -> dict[str, str]:
        """The feeds among these whose export is failing now, with the reason."""
        pipe = self._r.pipeline(transaction=False)
        for key in feed_keys:
            pipe.hget(export_key(key), "error")
        return {k: v.decode() for k, v in zip(feed_keys, pipe.execute()) if v}

    def forget(self, feed_key: str) -> None:
        self._r.delete(export_key(feed_key))
