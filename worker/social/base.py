"""The shape of a social network. A network is one module in this package: a `Channel`
subclass with its name, its settings (a `NetworkSettings` model of its own environment
variables), whether it is on, and its calls: payload, post, delete, refresh, lookup, error
classification and health check. worker.social finds the modules by itself; the delivery state
machine, the outbox, the status page, `check` and the metrics iterate what it finds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, ClassVar

import requests
from pydantic import BaseModel, ConfigDict

from feeds.article import Article, parse_time
from worker.http import RemoteSession, request_was_sent
from worker.social.errors import PermanentError, RetryableError


class NetworkSettings(BaseModel):
    """A network's variables (fields aliased to `SYNDICATE_...`), read from Settings.environ."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    @property
    def enabled(self) -> bool:
        """On exactly when its credentials are set."""
        raise NotImplementedError


class Memo:
    """What a network keeps about one outbox entry between its attempts (Threads: the container
    it made, before publishing it). `set` writes through before it returns, so whatever the
    channel does next, a later attempt (a retry, a rerun after a crash, a replay) reads it.
    In memory unless the delivery state machine gives the run the entry's own."""

    def __init__(
        self,
        data: dict[str, Any] | None = None,
        save: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self._data = dict(data or {})
        self._save = save

    def get(self, name: str) -> Any:
        return self._data.get(name)

    def set(self, name: str, value: Any) -> None:
        self._data[name] = value
        if self._save is not None:
            self._save(dict(self._data))


class Channel:
    name: ClassVar[str] = ""
    settings_class: ClassVar[type[NetworkSettings]]
    can_delete: ClassVar[bool] = True
    can_find: ClassVar[bool] = False  # True: `find_existing` can see the account's posts
    refreshes_on_update: ClassVar[bool] = False  # True: an update calls `refresh`
    # True: the payload is made once, stored with the intent before the first call, and every
    # attempt sends exactly those bytes (Bluesky's record key and createdAt must not change).
    stable_payload: ClassVar[bool] = False

    def __init__(self, config: Any, timeout_s: float, state: Any = None) -> None:
        self.config = config
        self.session = RemoteSession(timeout_s)
        self.state = state  # worker.store.channels.ChannelState: the network's shared state
        self.memo = Memo()  # the current outbox entry's (worker.delivery sets it per run)

    def payload(self, article: Article) -> dict[str, Any]:
        raise NotImplementedError

    def post(self, payload: dict[str, Any]) -> str:
        """Create the post; return its remote id."""
        raise NotImplementedError

    def remote_url(self, remote_id: str) -> str:
        """The post's public web address, where the network's answer gives one."""
        return ""

    def delete(self, remote_id: str) -> None:
        raise PermanentError(f"{self.name} has no delete")

    def find_existing(self, url: str) -> str | None:
        """After an ambiguous attempt: the id of a post linking to `url`, if the network shows one."""
        return None

    def refresh(self, article: Article) -> None:
        """After an update (Facebook re-scrapes the link preview); nothing by default."""

    @classmethod
    def share_link(cls, config: Any, article: Article) -> str | None:
        """The share-intent link an article page shows for this network, if it has one beyond
        the classic three (feeds.share.share_links)."""
        return None

    def health_check(self) -> str:
        """A cheap authenticated call: what it proved, or a DeliveryError saying what failed."""
        raise NotImplementedError

    def call(self, send: Callable[[], requests.Response]) -> requests.Response:
        """Send, turning transport failures into retryable errors (ambiguous once sent)."""
        try:
            return send()
        except requests.RequestException as exc:
            sent = request_was_sent(exc)
            raise RetryableError(f"{type(exc).__name__}: {exc}"[:300], ambiguous=sent) from None


def plausible_int(value: Any, default: int, low: int, high: int) -> int:
    """An integer from a remote answer within [low, high]; otherwise `default` (a network's
    limits and quotas are remote input too)."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return default
    try:
        number = int(value)
    except ValueError:
        return default
    return number if low <= number <= high else default


def json_body(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def seconds_until(reset: str | None, now: float | None = None) -> float | None:
    """Seconds until a rate-limit reset, plus one: epoch seconds (X, Bluesky) or an ISO 8601
    time (Mastodon's `X-RateLimit-Reset`); None if absent or unreadable."""
    if not reset:
        return None
    try:
        when = float(reset)
    except ValueError:
        try:
            when = parse_time(reset).timestamp()
        except ValueError:
            return None
    return max(when - (now or time.time()), 0.0) + 1.0
