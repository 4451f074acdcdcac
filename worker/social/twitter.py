"""X / Twitter API v2: `POST /2/tweets`, `DELETE /2/tweets/{id}`."""

from __future__ import annotations

import re
from typing import Any

import requests
from pydantic import Field, model_validator
from requests_oauthlib import OAuth1

from feeds.article import Article
from feeds.share import twitter_payload
from syndicate.values import Text, Url
from worker.social.base import Channel, NetworkSettings, json_body, seconds_until
from worker.social.errors import DuplicateError, PermanentError, RetryableError

_TWEET_ID = re.compile(r"^[0-9]{1,19}$")


class TwitterSettings(NetworkSettings):
    api_url: Url = Field("https://api.x.com", validation_alias="SYNDICATE_TWITTER_API_URL")
    # OAuth 2 user-context token, or the four OAuth 1.0a values
    bearer_token: Text = Field(None, validation_alias="SYNDICATE_TWITTER_BEARER_TOKEN", repr=False)
    consumer_key: Text = Field(None, validation_alias="SYNDICATE_TWITTER_CONSUMER_KEY", repr=False)
    consumer_secret: Text = Field(
        None, validation_alias="SYNDICATE_TWITTER_CONSUMER_SECRET", repr=False
    )
    access_token: Text = Field(None, validation_alias="SYNDICATE_TWITTER_ACCESS_TOKEN", repr=False)
    access_secret: Text = Field(
        None, validation_alias="SYNDICATE_TWITTER_ACCESS_SECRET", repr=False
    )

    @model_validator(mode="after")
    def _oauth1_together(self) -> TwitterSettings:
        oauth1 = [self.consumer_key, self.consumer_secret, self.access_token, self.access_secret]
        if any(oauth1) and not all(oauth1):
            raise ValueError(
                "SYNDICATE_TWITTER_CONSUMER_KEY, _CONSUMER_SECRET, _ACCESS_TOKEN and "
                "_ACCESS_SECRET must be set together"
            )
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.bearer_token or self.consumer_key)


class Twitter(Channel):
    name = "twitter"
    settings_class = TwitterSettings

    def __init__(self, config: TwitterSettings, timeout_s: float, state: Any = None) -> None:
        super().__init__(config, timeout_s, state)
        self.base = config.api_url
        if config.bearer_token:
            self.session.headers["Authorization"] = f"Bearer {config.bearer_token}"
        else:
            # OAuth 1.0a: the JSON body is not part of the signature (RFC 5849 §3.4.1.3).
            self.session.auth = OAuth1(
                config.consumer_key,
                config.consumer_secret,
                config.access_token,
                config.access_secret,
            )

    def payload(self, article: Article) -> dict[str, Any]:
        return twitter_payload(article)

    def post(self, payload: dict[str, Any]) -> str:
        r = self.call(lambda: self.session.post(f"{self.base}/2/tweets", json=payload))
        body = self.classify(r)
        tweet_id = str((body.get("data") or {}).get("id", ""))
        if not _TWEET_ID.match(tweet_id):
            raise RetryableError(
                f"unexpected answer without a tweet id: {r.text[:200]}", ambiguous=True
            )
        return tweet_id

    def delete(self, remote_id: str) -> None:
        r = self.call(lambda: self.session.delete(f"{self.base}/2/tweets/{remote_id}"))
        if r.status_code == 404:
            return  # already gone
        self.classify(r)

    def health_check(self) -> str:
        """`GET /2/users/me`: the credentials work and name the account."""
        body = self.classify(self.call(lambda: self.session.get(f"{self.base}/2/users/me")))
        username = (body.get("data") or {}).get("username")
        if not username:
            raise PermanentError("GET /2/users/me answered without a username")
        return f"authenticated as @{username}"

    @staticmethod
    def classify(r: requests.Response) -> dict[str, Any]:
        body = json_body(r)
        if r.status_code in (200, 201):
            return body
        errors = body.get("errors") or [{}]
        reason = (
            body.get("detail")
            or body.get("title")
            or errors[0].get("message")
            or r.text[:200]
            or f"HTTP {r.status_code}"
        )
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
