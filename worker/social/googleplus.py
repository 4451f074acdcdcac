"""Google+ Domains API v1 shape: `POST /people/me/activities`.

Google shut the Google+ APIs down on 2019-03-07. This channel speaks the plusDomains v1 shape
to whatever compatible base URL is configured and is off unless configured. The API has no
delete, so an unpublished article's activity stays.
"""

from __future__ import annotations

from typing import Any, Literal

import requests
from pydantic import Field

from feeds.article import Article
from feeds.share import googleplus_payload
from syndicate.values import Text, Url
from worker.social.base import Channel, NetworkSettings, json_body
from worker.social.errors import PermanentError, RetryableError

RATE_LIMITED = {"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded"}


class GooglePlusSettings(NetworkSettings):
    api_url: Url = Field(
        "https://www.googleapis.com/plusDomains/v1", validation_alias="SYNDICATE_GOOGLEPLUS_API_URL"
    )
    token: Text = Field(None, validation_alias="SYNDICATE_GOOGLEPLUS_TOKEN", repr=False)
    audience: Literal["public", "domain"] = Field(
        "public", validation_alias="SYNDICATE_GOOGLEPLUS_AUDIENCE"
    )

    @property
    def enabled(self) -> bool:
        return bool(self.token)


class GooglePlus(Channel):
    name = "googleplus"
    settings_class = GooglePlusSettings
    can_delete = False
    can_find = True

    def __init__(self, config: GooglePlusSettings, timeout_s: float, state: Any = None) -> None:
        super().__init__(config, timeout_s, state)
        self.base = config.api_url
        self.audience = config.audience
        self.session.headers["Authorization"] = f"Bearer {config.token}"

    def payload(self, article: Article) -> dict[str, Any]:
        return googleplus_payload(article, self.audience)

    def post(self, payload: dict[str, Any]) -> str:
        r = self.call(lambda: self.session.post(f"{self.base}/people/me/activities", json=payload))
        activity_id = str(self.classify(r).get("id", ""))
        if not activity_id:
            raise RetryableError(f"unexpected answer without an id: {r.text[:200]}", ambiguous=True)
        return activity_id

    def find_existing(self, url: str) -> str | None:
        r = self.call(lambda: self.session.get(f"{self.base}/people/me/activities/user"))
        for item in self.classify(r).get("items") or []:
            attachments = ((item or {}).get("object") or {}).get("attachments") or [{}]
            if attachments[0].get("url") == url and item.get("id"):
                return str(item["id"])
        return None

    def health_check(self) -> str:
        """`GET /people/me`: the token works."""
        body = self.classify(self.call(lambda: self.session.get(f"{self.base}/people/me")))
        return f"authenticated as {body.get('displayName') or body.get('id') or 'the token owner'}"

    @staticmethod
    def classify(r: requests.Response) -> dict[str, Any]:
        body = json_body(r)
        if r.status_code == 200:
            return body
        error: dict[str, Any] = body["error"] if isinstance(body.get("error"), dict) else {}
        reasons = {e.get("reason") for e in error.get("errors") or [] if isinstance(e, dict)}
        reason = f"HTTP {r.status_code}: {error.get('message') or r.text[:200]}"
        if r.status_code == 429 or reasons & RATE_LIMITED:
            raise RetryableError(reason, ambiguous=False)
        if r.status_code >= 500:
            raise RetryableError(reason, ambiguous=True)
        raise PermanentError(reason)
