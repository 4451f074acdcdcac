"""LinkedIn, Posts API: `POST /rest/posts` (an article post for the author URN) with the
versioned headers (`LinkedIn-Version: YYYYMM`, `X-Restli-Protocol-Version: 2.0.0`); the post's
URN comes back in the `x-restli-id` header of a 201. Unpublish deletes it
(`DELETE /rest/posts/{URL-encoded URN}`, 204; 404 means already gone).

Exactly once without a client-chosen key: the body is made once and stored with the intent
(`stable_payload`), so every attempt sends exactly the same bytes, and LinkedIn refuses a repeat
with `422` `DUPLICATE_POST` naming the existing post ("Content is a duplicate of
urn:li:share:…"): that URN is the one post. A named URN that no longer exists (LinkedIn's
duplicate memory outlives a delete by a day or two) is a failure with the reason, never a loop.

`commentary` is in LinkedIn's little text format: every reserved character is escaped, or the
post is shown cut at the first one; the article's hashtags go last as real hashtags. The card is
the client's (LinkedIn does not scrape): source, title, description. 429 carries no reset time:
it backs off. Versions are sunset a year after release: `check` warns as the configured one ages.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import requests
from pydantic import Field, field_validator

from feeds.article import Article
from feeds.share import fit
from feeds.text import html_to_text
from syndicate.values import Text, Url
from worker.social.base import Channel, NetworkSettings, json_body
from worker.social.errors import DuplicateError, HealthWarning, PermanentError, RetryableError

DEFAULT_VERSION = "202611"  # LinkedIn sunsets a version a year after its month
VERSION_WARN_MONTHS, VERSION_MAX_MONTHS = 9, 12
MAX_COMMENTARY, MAX_TITLE, MAX_DESCRIPTION = 3000, 400, 1000
RESERVED = frozenset("\\|{}@[]()<>#*_~")
ELLIPSIS = "…"
_AUTHOR = re.compile(r"urn:li:(organization|person):[A-Za-z0-9_-]{1,100}")
_POST = re.compile(r"urn:li:(share|ugcPost):[0-9]{1,40}")
_DUPLICATE_OF = re.compile(r"duplicate of (urn:li:(?:share|ugcPost):[0-9]{1,40})")
_VERSION = re.compile(r"(20[0-9]{2})(0[1-9]|1[0-2])")
_HASHTAG = re.compile(r"\w{1,100}")


class LinkedInSettings(NetworkSettings):
    token: Text = Field(None, validation_alias="SYNDICATE_LINKEDIN_TOKEN", repr=False)
    author: Text = Field(None, validation_alias="SYNDICATE_LINKEDIN_AUTHOR")
    version: str = Field(DEFAULT_VERSION, validation_alias="SYNDICATE_LINKEDIN_VERSION")
    api_url: Url = Field("https://api.linkedin.com", validation_alias="SYNDICATE_LINKEDIN_API_URL")

    @field_validator("author")
    @classmethod
    def _author(cls, value: str | None) -> str | None:
        if value is not None and not _AUTHOR.fullmatch(value):
            raise ValueError(
                "SYNDICATE_LINKEDIN_AUTHOR must be urn:li:organization:<id> or urn:li:person:<id>"
            )
        return value

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not _VERSION.fullmatch(value):
            raise ValueError("SYNDICATE_LINKEDIN_VERSION must be YYYYMM, e.g. 202611")
        return value

    @property
    def enabled(self) -> bool:
        return bool(self.token and self.author)


def escape(text: str) -> str:
    """Plain text in the little format: each reserved character after a backslash."""
    return "".join("\\" + ch if ch in RESERVED else ch for ch in text)


def commentary(article: Article) -> str:
    """The share message (or the summary, or the title), escaped, within 3,000 characters, then
    the article's hashtags as hashtag elements (those that are words only)."""
    text = (article.share.message or html_to_text(article.summary) or article.title).strip()
    tags = [t for t in article.share.hashtags if _HASHTAG.fullmatch(t)]
    tail = ("\n\n" + " ".join(f"#{t}" for t in tags)) if tags else ""
    tail = tail if len(tail) <= MAX_COMMENTARY // 10 else ""

    def fits(s: str) -> bool:
        return len(escape(s)) + len(tail) <= MAX_COMMENTARY

    return escape(fit(text, fits)) + tail


def version_age(version: str, now: datetime | None = None) -> int:
    """Months since the version's month (negative: a month still to come)."""
    now = now or datetime.now(UTC)
    return now.year * 12 + now.month - (int(version[:4]) * 12 + int(version[4:]))


class LinkedIn(Channel):
    name = "linkedin"
    settings_class = LinkedInSettings
    stable_payload = True  # the same bytes every attempt: a repeat is answered as a duplicate
    # can_find stays False: reading posts needs a permission posting does not; the duplicate
    # answer is what settles an uncertain attempt.

    def __init__(self, config: LinkedInSettings, timeout_s: float, state: Any = None) -> None:
        super().__init__(config, timeout_s, state)
        self.base = config.api_url.rstrip("/")
        self.author = config.author or ""
        self.session.headers.update(
            {
                "Authorization": f"Bearer {config.token}",
                "LinkedIn-Version": config.version,
                "X-Restli-Protocol-Version": "2.0.0",
            }
        )

    def payload(self, article: Article) -> dict[str, Any]:
        return {
            "author": self.author,
            "commentary": commentary(article),
            "visibility": "PUBLIC",
            "distribution": {
                "feedDistribution": "MAIN_FEED",
                "targetEntities": [],
                "thirdPartyDistributionChannels": [],
            },
            "content": {
                "article": {
                    "source": article.url,
                    "title": article.title[:MAX_TITLE],
                    "description": html_to_text(article.summary)[:MAX_DESCRIPTION],
                }
            },
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": False,
        }

    def _post_url(self, urn: str) -> str:
        if not _POST.fullmatch(urn):
            raise PermanentError(f"not a LinkedIn post URN: {urn[:80]!r}")
        return f"{self.base}/rest/posts/{quote(urn, safe='')}"

    def post(self, payload: dict[str, Any]) -> str:
        r = self.call(lambda: self.session.post(f"{self.base}/rest/posts", json=payload))
        if r.status_code == 201:
            urn = r.headers.get("x-restli-id", "")
            if not _POST.fullmatch(urn):
                # made, but unnamed: the same bytes again are answered as its duplicate
                raise RetryableError(f"201 without a post URN ({urn[:80]!r})", ambiguous=True)
            return urn
        if r.status_code == 422 and _is_duplicate(json_body(r)):
            return self._duplicate_of(json_body(r))
        self.classify(r)
        raise RetryableError(f"unexpected answer HTTP {r.status_code}", ambiguous=True)

    def _duplicate_of(self, body: dict[str, Any]) -> str:
        """The existing post a 422 DUPLICATE_POST names, once it is seen to exist."""
        found = _DUPLICATE_OF.search(str(body.get("message") or ""))
        if not found:
            raise DuplicateError(
                f"LinkedIn refused a duplicate without naming it: {str(body.get('message'))[:200]}"
            )
        urn = found.group(1)
        r = self.call(lambda: self.session.get(self._post_url(urn)))
        if r.status_code == 404:
            raise PermanentError(
                f"LinkedIn calls this a duplicate of {urn}, which does not exist "
                f"(a post deleted in the last days?): not posted again"
            )
        if r.status_code == 403:
            return urn  # reading posts is not permitted: the named post is taken at its word
        self.classify(r)
        return urn

    def remote_url(self, remote_id: str) -> str:
        return (
            f"https://www.linkedin.com/feed/update/{remote_id}/"
            if _POST.fullmatch(remote_id)
            else ""
        )

    def delete(self, remote_id: str) -> None:
        r = self.call(
            lambda: self.session.delete(
                self._post_url(remote_id), headers={"X-RestLi-Method": "DELETE"}
            )
        )
        if r.status_code == 404:
            return  # already gone
        self.classify(r)

    def find_existing(self, url: str) -> str | None:
        """The author's newest posts (where reading them is permitted), looking for the card."""
        r = self.call(
            lambda: self.session.get(
                f"{self.base}/rest/posts",
                params={
                    "q": "author",
                    "author": self.author,
                    "count": "50",
                    "sortBy": "LAST_MODIFIED",
                },
            )
        )
        if r.status_code == 403:
            return None  # not permitted: the same body again, answered as a duplicate, settles it
        for item in self.classify(r).get("elements") or []:
            article = ((item or {}).get("content") or {}).get("article") or {}
            if article.get("source") == url and _POST.fullmatch(str(item.get("id") or "")):
                return str(item["id"])
        return None

    @classmethod
    def share_link(cls, config: Any, article: Article) -> str | None:
        return "https://www.linkedin.com/sharing/share-offsite/?url=" + quote(article.url, safe="")

    def health_check(self) -> str:
        """One authenticated read of the author's posts (a 403 still proves the token: reading
        needs a permission posting does not), then the version's age."""
        age = version_age(self.config.version)
        if age < 0:
            raise PermanentError(f"LinkedIn-Version {self.config.version} is in the future")
        r = self.call(
            lambda: self.session.get(
                f"{self.base}/rest/posts",
                params={"q": "author", "author": self.author, "count": "1"},
            )
        )
        if r.status_code == 403:
            proved = (
                f"token valid for {self.author} (reading posts is not permitted; posting is "
                "what counts)"
            )
        else:
            self.classify(r)
            proved = f"posts of {self.author} readable"
        if age >= VERSION_WARN_MONTHS:
            raise HealthWarning(
                f"{proved}, but LinkedIn-Version {self.config.version} is {age} "
                f"months old and is sunset after {VERSION_MAX_MONTHS}: set "
                "SYNDICATE_LINKEDIN_VERSION to a recent YYYYMM"
            )
        return f"{proved}; LinkedIn-Version {self.config.version}"

    @staticmethod
    def classify(r: requests.Response) -> dict[str, Any]:
        body = json_body(r)
        if 200 <= r.status_code < 300:
            return body
        code = " ".join(str(body[k]) for k in ("code", "serviceErrorCode") if body.get(k))
        reason = f"HTTP {r.status_code}: {code} {body.get('message') or r.text[:200]}"
        if r.status_code == 429:
            raise RetryableError(reason, ambiguous=False)  # no reset header: the backoff
        if r.status_code == 426:
            raise PermanentError(
                f"{reason} (the LinkedIn-Version is sunset: set "
                "SYNDICATE_LINKEDIN_VERSION to a recent YYYYMM)"
            )
        if r.status_code >= 500:
            raise RetryableError(reason, ambiguous=True)
        raise PermanentError(reason)  # 401 token, 403 author, 400/422 payload


def _is_duplicate(body: dict[str, Any]) -> bool:
    details: dict[str, Any] = (
        body["errorDetails"] if isinstance(body.get("errorDetails"), dict) else {}
    )
    errors: list[Any] = (
        details["inputErrors"] if isinstance(details.get("inputErrors"), list) else []
    )
    return any(isinstance(e, dict) and e.get("code") == "DUPLICATE_POST" for e in errors)
