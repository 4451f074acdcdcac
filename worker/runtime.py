"""A process's settings and connections: the `Runtime`, built once at start-up and passed down.

The API keeps its runtime on the Starlette app; the operator commands build one and pass it.
Celery tasks are module functions, so each worker process holds its runtime in one module
global: the Celery app installs it when it is configured (worker.celery_app) and tasks, the
scheduler and the renderer read it with `current()`.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import redis

from feeds.describe import Podcast, Site
from syndicate.config import Settings, public_hub_url
from syndicate.connections import async_redis_client, redis_client
from syndicate.logs import register_secrets
from worker.social import NETWORKS, channels_for
from worker.social.base import Channel
from worker.store import Store
from worker.store.rendered import FeedReader


@dataclass
class Runtime:
    settings: Settings
    # the API's feed readers, one per event loop (an asyncio connection belongs to its loop)
    _readers: weakref.WeakKeyDictionary = field(
        default_factory=weakref.WeakKeyDictionary, repr=False
    )
    _last_reader: tuple[Any, FeedReader] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        register_secrets(self.settings.secret_values())

    @cached_property
    def redis(self) -> redis.Redis:
        return redis_client(
            self.settings.require_redis(),
            socket_timeout=5,
            socket_connect_timeout=2,
            health_check_interval=10,
        )

    def reader(self) -> FeedReader:
        """The serving path's reader on an asyncio client of the running event loop (the API's
        hot path: no thread hop)."""
        loop = asyncio.get_running_loop()
        if self._last_reader is not None and self._last_reader[0] is loop:
            return self._last_reader[1]  # the one event loop of an API process, nearly always
        reader = self._readers.get(loop)
        if reader is None:
            reader = FeedReader(
                async_redis_client(
                    self.settings.require_redis(), socket_timeout=5, socket_connect_timeout=2
                )
            )
            self._readers[loop] = reader
        self._last_reader = (loop, reader)
        return reader

    @cached_property
    def store(self) -> Store:
        return Store(
            self.redis, NETWORKS, self.settings.feed_size, self.settings.event_retention_days
        )

    @cached_property
    def channels(self) -> dict[str, Channel]:
        """The enabled networks, by name."""
        # Their shared state lives in Redis; without one (`check` with nothing to reach) none.
        state = self.store.channel_state if self.settings.redis_url else None
        return channels_for(self.settings, state)

    @cached_property
    def hub_sessions(self) -> dict:
        return {}

    @cached_property
    def site(self) -> Site:
        s = self.settings
        # our own hub (worker/hub.py), first: it pushes the bytes to subscribers itself
        own_hub = (f"{s.public_url or 'http://127.0.0.1:8000'}/hub",) if s.websub_hub else ()
        return Site(
            title=s.site_title or "",
            description=s.site_description or "",
            url=s.site_url,
            language=s.site_language or "en",
            public_url=s.public_url or "http://127.0.0.1:8000",
            hubs=(*own_hub, *(public_hub_url(h) for h in s.websub_hubs)),
            podcast=Podcast(
                owner_name=s.podcast_owner_name or s.site_title,
                owner_email=s.podcast_owner_email,
                image=s.podcast_image,
                category=s.podcast_category or "News",
                explicit=s.podcast_explicit,
            ),
        )


_current: Runtime | None = None


def install(rt: Runtime) -> Runtime:
    """Make `rt` this process's runtime (see the module docstring)."""
    global _current
    _current = rt
    return rt


def configure(settings: Settings) -> Runtime:
    return install(Runtime(settings))


def current() -> Runtime:
    if _current is None:
        raise RuntimeError("no runtime installed: worker.celery_app installs one on configure")
    return _current
