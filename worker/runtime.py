"""The process's settings and connections, built once from the environment on first use.

The CLI and the tests can install explicit settings with `configure()` before anything else
asks; a plain `celery -A worker worker` gets them from the environment.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from functools import cached_property

import redis
import redis.asyncio

from feeds.describe import Site
from syndicate.config import Settings, public_hub_url
from syndicate.logs import register_secrets
from worker.store import Store


@dataclass
class Runtime:
    settings: Settings

    def __post_init__(self) -> None:
        register_secrets(self.settings.secret_values())

    @cached_property
    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(
            self.settings.require_redis(),
            socket_timeout=5,
            socket_connect_timeout=2,
            health_check_interval=10,
        )

    def aredis(self) -> redis.asyncio.Redis:
        """An asyncio client for the running event loop (the API's hot path: no thread hop).

        One per loop: an asyncio connection belongs to the loop that opened it, and tests run
        several apps on several loops in one process."""
        import asyncio

        loop = asyncio.get_running_loop()
        client = self._aredis.get(loop)
        if client is None:
            client = redis.asyncio.Redis.from_url(
                self.settings.require_redis(), socket_timeout=5, socket_connect_timeout=2)
            self._aredis[loop] = client
        return client

    @cached_property
    def _aredis(self) -> weakref.WeakKeyDictionary:
        return weakref.WeakKeyDictionary()

    @cached_property
    def store(self) -> Store:
        return Store(self.redis, self.settings.feed_size, self.settings.event_retention_days)

    @cached_property
    def channels(self) -> dict:
        from worker.social import channels_for

        return channels_for(self.settings)

    @cached_property
    def hub_sessions(self) -> dict:
        return {}

    @cached_property
    def site(self) -> Site:
        s = self.settings
        return Site(
            title=s.site_title,
            description=s.site_description,
            url=s.site_url,
            language=s.site_language,
            public_url=s.public_url or "http://127.0.0.1:8000",
            hubs=tuple(public_hub_url(h) for h in s.websub_hubs),
            feed_size=s.feed_size,
        )


_runtime: Runtime | None = None


def configure(settings: Settings) -> Runtime:
    global _runtime
    _runtime = Runtime(settings)
    return _runtime


def runtime() -> Runtime:
    global _runtime
    if _runtime is None:
        _runtime = Runtime(Settings.from_env())
    return _runtime
