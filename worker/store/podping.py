"""Podping notifications of a feed (the audio feed): which bytes were announced.

hash `syn:podping:<feed>`: sent_etag (the RSS ETag podping.cloud last took), sent_at,
sending_etag and sending_at (the intent, written before each GET), attempts (since the last
success), last_status, last_error, sent (how many notifications were taken).
string `syn:podping:<feed>:lock` (expiring): the worker notifying now.
"""

from __future__ import annotations

import time

from worker.store import dead
from worker.store._prefix import PREFIX, Client


def state_key(feed_key: str) -> str:
    return f"{PREFIX}podping:{feed_key}"


def lock_key(feed_key: str) -> str:
    return f"{PREFIX}podping:{feed_key}:lock"


def letter(feed_key: str) -> str:
    return f"podping:{feed_key}"


class Podpings:
    def __init__(self, client: Client, feed_key: str) -> None:
        self._r = client
        self.feed = feed_key
        self._key = state_key(feed_key)

    def state(self) -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in self._r.hgetall(self._key).items()}

    def lock(self, ttl_s: float) -> bool:
        return bool(self._r.set(lock_key(self.feed), "1", nx=True, px=int(ttl_s * 1000)))

    def unlock(self) -> None:
        self._r.delete(lock_key(self.feed))

    def sending(self, etag: str) -> int:
        """The intent, before the GET: which bytes; returns the attempt's number."""
        pipe = self._r.pipeline()
        pipe.hincrby(self._key, "attempts", 1)
        pipe.hset(self._key, mapping={"sending_etag": etag, "sending_at": f"{time.time():.3f}"})
        return int(pipe.execute()[0])

    def sent(self, etag: str, status: int) -> None:
        pipe = self._r.pipeline()
        pipe.hset(
            self._key,
            mapping={
                "sent_etag": etag,
                "sent_at": f"{time.time():.3f}",
                "attempts": 0,
                "last_status": str(status),
                "last_error": "",
            },
        )
        pipe.hincrby(self._key, "sent", 1)
        dead.remove_in(pipe, letter(self.feed))
        pipe.execute()

    def failed(self, status: int | None, reason: str) -> None:
        self._r.hset(
            self._key,
            mapping={
                "last_status": "" if status is None else str(status),
                "last_error": reason[:300],
            },
        )

    def reset_attempts(self) -> None:
        self._r.hset(self._key, "attempts", 0)
