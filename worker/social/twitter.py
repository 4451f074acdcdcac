"""X / Twitter API v2: `POST /2/tweets`, `DELETE /2/tweets/{id}` (social_apis.md §1)."""

from __future__ import annotations

import re
from typing import Any

import requests
from requests_oauthlib import OAuth1

from feeds.article import Article
from feeds.share import twitter_payload
from syndicate.config import Settings
from worker.http import RemoteSession
from worker.social.base import Channel, json_body, seconds_until
from worker.social.errors import DuplicateError, PermanentError, RetryableError

_TWEET_ID = re.compile(r"^[0-9]{1,19}$")


class Twitter(Channel):
    name = "twitter"

    def __init__(self, settings: Settings) -> None:
        super().__init__(RemoteSession(settings.http_timeout))
        creds = settings.twitter
        assert creds is not None
        self.base = settings.twitter_api_url
        if creds.bearer_token:
            self.session.headers["Authorization"] = f"Bearer {creds.bearer_token}"
        else:
            # OAuth 1.0a: the JSON body is not part of the signature (RFC 5849 §3.4.1.3).
            self.session.auth = OAuth1(creds.consumer_key, creds.consumer_secret,
                                       creds.access_token, creds.access_secret)

    def payload(self, article: Article) -> dict[str, Any]:
        return twitter_payload(article)

    def post(self, payload: dict[str, Any]) -> str:
        r = self.call(lambda: self.session.post(f"{self.base}/2/tweets", json=payload))
        body = self.classify(r)
        tweet_id = str((body.get("data") or {}).get("id", ""))
        if not _TWEET_ID.match(tweet_id):
            raise RetryableError(f"unexpected answer without a tweet id: {r.text[:200]}",
                                 ambiguous=True)
        return tweet_id

    def delete(self, remote_id: str) -> None:
        r = self.call(lambda: self.session.delete(f"{self.base}/2/tweets/{remote_id}"))
        if r.status_code == 404:
            return  # already gone
        self.classify(r)

    @staticmethod
    def classify(r: requests.Response) -> dict[str, Any]:
        body = json_body(r)
        if r.status_code in (200, 201):
            return body
        errors = body.get("errors") or [{}]
        reason = (body.get("detail") or body.get("title") or errors[0].get("message")
                  or r.text[:200] or f"HTTP {r.status_code}")
        reason = f"HTTP {r.status_code}: {reason}"
        if r.status_code == 429:
            wait = None
            for prefix in ("x-user-limit-24hour", "x-app-limit-24hour"):
                if r.headers.get(f"{prefix}-remaining") == "0":
                    wait = seconds_until(r.headers.get(f"{prefix}-reset"))
            wait = wait or seconds_until(r.headers.get("x-rate-limit-reset"))
            raise RetryableError(reason, ambiguous=False, wait_s=wait)
        if r.status_code == 403 and "duplicate" in reason.lower():
            raise DuplicateError(reason)
        if r.status_code >= 500:
            raise RetryableError(reason, ambiguous=True)
        raise PermanentError(reason)
