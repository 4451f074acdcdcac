"""Worker heartbeats: what `/readyz` and the status page call live."""

from __future__ import annotations

import time

from worker.store._prefix import PREFIX, Client

WORKERS = f"{PREFIX}workers"  # zset worker hostname -> last heartbeat (epoch s)


class Workers:
    def __init__(self, client: Client) -> None:
        self._r = client

    def heartbeat(self, hostname: str) -> None:
        self._r.zadd(WORKERS, {hostname: time.time()})

    def live(self, within_s: float = 15) -> list[str]:
        now = time.time()
        self._r.zremrangebyscore(WORKERS, "-inf", now - 3600)
        return [w.decode() for w in self._r.zrangebyscore(WORKERS, now - within_s, "+inf")]
