"""The shape of a social channel. Adding a network (Mastodon, Bluesky) is one module like
`twitter.py` plus its settings; the delivery state machine does the rest."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests

from feeds.article import Article
from worker.http import RemoteSession, request_was_sent
from worker.social.errors import PermanentError, RetryableError


class Channel:
    name = ""
    can_delete = True
    can_find = False  # True: `find_existing` can see the account's posts
    refreshes_on_update = False  # True: an update calls `refresh` (Facebook's link preview)

    def __init__(self, session: RemoteSession) -> None:
        self.session = session

    def payload(self, article: Article) -> dict[str, Any]:
        raise NotImplementedError

    def post(self, payload: dict[str, Any]) -> str:
        """Create the post; return its remote id."""
        raise NotImplementedError

    def delete(self, remote_id: str) -> None:
        raise PermanentError(f"{self.name} has no delete")

    def find_existing(self, url: str) -> str | None:
        """After an ambiguous attempt: the id of a post linking to `url`, if the network shows one."""
        return None

    def refresh(self, article: Article) -> None:
        """After an update (only Facebook does something: re-scrape the link preview)."""

    def call(self, send: Callable[[], requests.Response]) -> requests.Response:
        """Send, turning transport failures into retryable errors (ambiguous once sent)."""
        try:
            return send()
        except requests.RequestException as exc:
            sent = request_was_sent(exc)
            raise RetryableError(f"{type(exc).__name__}: {exc}"[:300], ambiguous=sent) from None


def json_body(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def seconds_until(epoch: str | None, now: float | None = None) -> float | None:
    try:
        return max(float(epoch) - (now or time.time()), 0.0) + 1.0 if epoch else None
    except ValueError:
        return None
