"""Facebook Graph API, Page posts: `POST /{page-id}/feed`, `DELETE /{post-id}`, link-preview
refresh with `POST /` (`id=URL&scrape=true`). Branch on `error.code`, not on
the HTTP status, which Meta leaves unspecified."""

from __future__ import annotations

import json
from typing import Any

import requests
from pydantic import Field, model_validator

from feeds.article import Article
from feeds.share import facebook_payload
from syndicate.values import Text, Url
from worker.social.base import Channel, NetworkSettings, json_body
from worker.social.errors import DuplicateError, PermanentError, RetryableError

THROTTLED = {4, 17, 32, 613, 80001}
TRANSIENT = {1, 2, 341}


class FacebookSettings(NetworkSettings):
    graph_url: Url = Field(
        "https://graph.facebook.com/v25.0", validation_alias="SYNDICATE_FACEBOOK_GRAPH_URL"
    )
    page_id: Text = Field(None, validation_alias="SYNDICATE_FACEBOOK_PAGE_ID")
    page_token: Text = Field(None, validation_alias="SYNDICATE_FACEBOOK_PAGE_TOKEN", repr=False)

    @model_validator(mode="after")
    def _together(self) -> FacebookSettings:
        if bool(self.page_id) != bool(self.page_token):
            raise ValueError(
                "SYNDICATE_FACEBOOK_PAGE_ID and SYNDICATE_FACEBOOK_PAGE_TOKEN must be set together"
            )
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.page_id)


class Facebook(Channel):
    name = "facebook"
    settings_class = FacebookSettings
    refreshes_on_update = True
    can_find = True

    def __init__(self, config: FacebookSettings, timeout_s: float, state: Any = None) -> None:
        super().__init__(config, timeout_s, state)
        self.base = config.graph_url
        self.page_id = config.page_id
        # The Page token travels in a header or a POST body, never in a URL (which errors and
        # logs quote): `access_token` in the body as Meta documents, the header for GET/DELETE.
        self.token = config.page_token
        self.session.headers["Authorization"] = f"Bearer {self.token}"

    def payload(self, article: Article) -> dict[str, Any]:
        return facebook_payload(article)

    def post(self, payload: dict[str, Any]) -> str:
        r = self.call(
            lambda: self.session.post(
                f"{self.base}/{self.page_id}/feed", data={**payload, "access_token": self.token}
            )
        )
        post_id = str(self.classify(r).get("id", ""))
        if not post_id:
            raise RetryableError(f"unexpected answer without an id: {r.text[:200]}", ambiguous=True)
        return post_id

    def delete(self, remote_id: str) -> None:
        self.classify(self.call(lambda: self.session.delete(f"{self.base}/{remote_id}")))

    def find_existing(self, url: str) -> str | None:
        r = self.call(
            lambda: self.session.get(
                f"{self.base}/{self.page_id}/feed", params={"fields": "id,link", "limit": "50"}
            )
        )
        for post in self.classify(r).get("data") or []:
            if isinstance(post, dict) and post.get("link") == url and post.get("id"):
                return str(post["id"])
        return None

    def refresh(self, article: Article) -> None:
        self.classify(
            self.call(
                lambda: self.session.post(
                    f"{self.base}/",
                    data={"id": article.url, "scrape": "true", "access_token": self.token},
                )
            )
        )

    def health_check(self) -> str:
        """`GET /me` with the Page token: it must be the configured Page's."""
        body = self.classify(
            self.call(lambda: self.session.get(f"{self.base}/me", params={"fields": "id,name"}))
        )
        if str(body.get("id")) != self.page_id:
            raise PermanentError(
                f"the token belongs to {body.get('id')!r}, not Page "
                f"{self.page_id}: set the Page's own token"
            )
        return f"Page token for {body.get('name') or self.page_id}"

    @staticmethod
    def classify(r: requests.Response) -> dict[str, Any]:
        body = json_body(r)
        error = body.get("error") if isinstance(body.get("error"), dict) else None
        if r.status_code == 200 and error is None:
            return body
        if error is None:
            reason = f"HTTP {r.status_code}: {r.text[:200]}"
            if r.status_code >= 500 or r.status_code == 429:
                raise RetryableError(reason, ambiguous=r.status_code >= 500)
            raise PermanentError(reason)
        code = error.get("code")
        reason = f"code {code}: {error.get('message', '')}"[:300]
        if code in THROTTLED or (error.get("is_transient") and code not in TRANSIENT):
            raise RetryableError(reason, ambiguous=False, wait_s=_regain_access_s(r))
        if code in TRANSIENT:
            raise RetryableError(reason, ambiguous=True)
        if code == 506 or (code == 368 and "already posted" in reason.lower()):
            raise DuplicateError(reason)
        raise PermanentError(reason)


def _regain_access_s(r: requests.Response) -> float | None:
    """`estimated_time_to_regain_access` (minutes) from X-Business-Use-Case-Usage, if any."""
    try:
        usage = json.loads(r.headers.get("x-business-use-case-usage", "{}"))
        minutes = max(
            (entry.get("estimated_time_to_regain_access") or 0)
            for entries in usage.values()
            for entry in entries
        )
    except (ValueError, AttributeError, TypeError):
        return None
    return minutes * 60.0 if minutes else None
