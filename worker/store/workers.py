"""Worker and renderer heartbeats: what `/readyz` and the status page call live."""

from __future__ import annotations

import json
import time

from worker.store._prefix import PREFIX, Client

WORKERS = f"{PREFIX}workers"  # zset worker hostname -> last heartbeat (epoch s)
RENDERERS = f"{PREFIX}renderers"  # zset renderer (host:pid) -> last heartbeat (epoch s)
SERVICE = f"{PREFIX}service"  # string: JSON, the running service's effective, non-secret settings


class Workers:
    def __init__(self, client: Client) -> None:
        self._r = client

    def heartbeat(self, hostname: str) -> None:
        self._r.zadd(WORKERS, {hostname: time.time()})

    def renderer_heartbeat(self, name: str) -> None:
        self._r.zadd(RENDERERS, {name: time.time()})

    def live_renderers(self, within_s: float = 15) -> list[str]:
        now = time.time()
        self._r.zremrangebyscore(RENDERERS, "-inf", now - 3600)
        return [w.decode() for w in self._r.zrangebyscore(RENDERERS, now - within_s, "+inf")]

    def publish_config(self, config: dict) -> None:
        """What the service runs with (no secrets), for `status` and `check` in other shells."""
        self._r.set(SERVICE, json.dumps(config, sort_keys=True))

    def config(self) -> dict | None:
        raw = self._r.get(SERVICE)
        return json.loads(raw) if raw else None

    def live(self, within_s: float = 15) -> list[str]:
        now = time.time()
        self._r.zremrangebyscore(WORKERS, "-inf", now - 3600)
        return [w.decode() for w in self._r.zrangebyscore(WORKERS, now - within_s, "+inf")]
