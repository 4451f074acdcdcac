"""Mastodon: `POST /api/v1/statuses` with an `Idempotency-Key`, `DELETE /api/v1/statuses/:id`.

Exactly once by the network's own idempotency: the key is derived from the article, so every
attempt (a retry after a timeout, a rerun after a crash) sends the same key, and within the
server's hour a repeat returns the original status instead of a second one. After that hour,
an uncertain attempt is settled by looking through the account's own statuses for the article
URL. The text fits the instance's real limit (`/api/v2/instance`, cached): graphemes, every
URL counted as `characters_reserved_per_url`. Updates edit nothing; unpublish deletes (404 means
already gone). Rate limits: `X-RateLimit-Reset` is an ISO 8601 time.
"""

from __future__ import annotations

import time
from typing import Any, Literal
from urllib.parse import quote

import regex
import requests
from cachetools import LRUCache
from pydantic import Field

from feeds.article import Article
from feeds.share import fit, intent_text
from syndicate.values import Text, Url
from worker.social.base import Channel, NetworkSettings, json_body, plausible_int, seconds_until
from worker.social.errors import PermanentError, RetryableError

DEFAULT_LIMIT = 500
URL_WEIGHT = 23
INSTANCE_TTL_S = 3600
ELLIPSIS = "…"
_URL = regex.compile(r"https?://\S+")


class MastodonSettings(NetworkSettings):
    url: Url | None = Field(None, validation_alias="SYNDICATE_MASTODON_URL")
    token: Text = Field(None, validation_alias="SYNDICATE_MASTODON_TOKEN", repr=False)
    visibility: Literal["public", "unlisted", "private"] = Field(
        "public", validation_alias="SYNDICATE_MASTODON_VISIBILITY"
    )
    language: Text = Field(None, validation_alias="SYNDICATE_MASTODON_LANGUAGE")

    @property
    def enabled(self) -> bool:
        return bool(self.url and self.token)


def weight(text: str, per_url: int = URL_WEIGHT) -> int:
    """Mastodon's count: grapheme clusters, each http(s) URL as `per_url`."""
    urls = _URL.findall(text)
    rest = _URL.sub("", text)
    return len(regex.findall(r"\X", rest)) + per_url * len(urls)


def status_text(article: Article, limit: int, per_url: int = URL_WEIGHT) -> str:
    """The share message (or the title), the URL, then the hashtags that fit."""
    text = " ".join((article.share.message or article.title).split())
    tags = [f"#{h}" for h in article.share.hashtags]

    def tail(n: int) -> str:
        return " " + article.url + ("" if not n else " " + " ".join(tags[:n]))

    def fits(s: str) -> bool:
        return weight(s, per_url) <= limit

    n = len(tags)
    while n and not fits(text[:1] + ELLIPSIS + tail(n)):
        n -= 1  # at most 10 hashtags (intake's limit)
    return fit(text, lambda t: fits(t + tail(n)), graphemes=True) + tail(n)


class Mastodon(Channel):
    name = "mastodon"
    settings_class = MastodonSettings
    can_find = True

    def __init__(self, config: MastodonSettings, timeout_s: float, state: Any = None) -> None:
        super().__init__(config, timeout_s, state)
        self.base = config.url or ""
        self.session.headers["Authorization"] = f"Bearer {config.token}"
        self._instance: tuple[float, int, int] | None = None  # (fetched at, limit, per URL)
        self._urls: LRUCache[str, str] = LRUCache(maxsize=1000)  # status id -> its web URL

    # The instance's limits, asked once an hour.
    def limits(self) -> tuple[int, int]:
        if self._instance and time.monotonic() - self._instance[0] < INSTANCE_TTL_S:
            return self._instance[1], self._instance[2]
        limit, per_url = DEFAULT_LIMIT, URL_WEIGHT
        try:
            r = self.session.get(f"{self.base}/api/v2/instance")
            statuses = (json_body(r).get("configuration") or {}).get("statuses") or {}
            if isinstance(statuses, dict):
                # A remote answer: only plausible numbers count, else the documented defaults
                # (a limit too small for the URL could never be posted).
                limit = plausible_int(statuses.get("max_characters"), DEFAULT_LIMIT, 100, 100_000)
                per_url = plausible_int(
                    statuses.get("characters_reserved_per_url"), URL_WEIGHT, 1, 100
                )
        except (requests.RequestException, ValueError, TypeError):
            pass  # the documented defaults
        self._instance = (time.monotonic(), limit, per_url)
        return limit, per_url

    def payload(self, article: Article) -> dict[str, Any]:
        limit, per_url = self.limits()
        payload: dict[str, Any] = {
            "status": status_text(article, limit, per_url),
            "visibility": self.config.visibility,
            "idempotency_key": f"syndicate:{article.id}:mastodon",
        }
        language = self.config.language or (article.language or "").split("-")[0]
        if language:
            payload["language"] = language
        return payload

    def post(self, payload: dict[str, Any]) -> str:
        body = {k: v for k, v in payload.items() if k != "idempotency_key"}
        headers = {"Idempotency-Key": payload["idempotency_key"]}
        r = self.call(
            lambda: self.session.post(f"{self.base}/api/v1/statuses", data=body, headers=headers)
        )
        status = self.classify(r)
        status_id = str(status.get("id") or "")
        if not status_id.isdigit():
            raise RetryableError(
                f"unexpected answer without a status id: {r.text[:200]}", ambiguous=True
            )
        if isinstance(status.get("url"), str):
            self._urls[status_id] = status["url"]
        return status_id

    def remote_url(self, remote_id: str) -> str:
        return self._urls.get(remote_id, "")

    def delete(self, remote_id: str) -> None:
        r = self.call(lambda: self.session.delete(f"{self.base}/api/v1/statuses/{remote_id}"))
        if r.status_code == 404:
            return  # already gone
        self.classify(r)

    def account_id(self) -> str:
        cached = self.state.get("account_id") if self.state else None
        if cached:
            return str(cached)
        body = self.classify(
            self.call(lambda: self.session.get(f"{self.base}/api/v1/accounts/verify_credentials"))
        )
        account_id = str(body.get("id") or "")
        if self.state and account_id:
            self.state.set("account_id", account_id)
        return account_id

    def find_existing(self, url: str) -> str | None:
        """The account's newest statuses (40), looking for the article URL."""
        account = self.account_id()
        r = self.call(
            lambda: self.session.get(
                f"{self.base}/api/v1/accounts/{account}/statuses",
                params={"limit": "40", "exclude_replies": "true", "exclude_reblogs": "true"},
            )
        )
        self.classify(r)
        try:
            statuses = r.json()
        except ValueError:
            raise RetryableError(
                f"statuses answer is not JSON: {r.text[:200]}", ambiguous=False
            ) from None
        for status in statuses if isinstance(statuses, list) else []:
            content = str((status or {}).get("content") or "")
            card = (status or {}).get("card") or {}
            if f'href="{url}"' in content or card.get("url") == url:
                return str(status.get("id"))
        return None

    @classmethod
    def share_link(cls, config: Any, article: Article) -> str | None:
        if not config.url:
            return None
        text = intent_text(article)
        return f"{config.url}/share?text={quote(text, safe='')}"

    def health_check(self) -> str:
        """`GET /api/v1/accounts/verify_credentials`: the token works, for this account."""
        body = self.classify(
            self.call(lambda: self.session.get(f"{self.base}/api/v1/accounts/verify_credentials"))
        )
        return f"authenticated as @{body.get('acct') or body.get('username') or body.get('id')}"

    @staticmethod
    def classify(r: requests.Response) -> dict[str, Any]:
        body = json_body(r)
        if 200 <= r.status_code < 300:
            return body
        reason = f"HTTP {r.status_code}: {body.get('error') or r.text[:200]}"
        if r.status_code == 429:
            raise RetryableError(
                reason, ambiguous=False, wait_s=seconds_until(r.headers.get("x-ratelimit-reset"))
            )
        if r.status_code >= 500:
            # 503 is also a concurrent same-key request still running: the same key again
            # later is safe either way.
            raise RetryableError(reason, ambiguous=True)
        raise PermanentError(reason)
