"""Threads (Meta): a text container with the article URL as its link attachment
(`POST /{user}/threads`), then `POST /{user}/threads_publish` with its `creation_id`.

Exactly once by the container: publishing is the only step that makes a post, and a container
is published once. Its id is kept in the outbox entry (the channel's memo) before
`threads_publish` is called, so every later attempt (a retry after a timeout or a 5xx, a rerun
after a crash, a replay) first reads that container's status: `FINISHED` is published again
(the same container), `PUBLISHED` means the post exists (its media id is looked up in the
profile's threads), `IN_PROGRESS` waits, and only an `ERROR` or `EXPIRED` container, which
can never be published, is replaced by a new one. A container whose creation answer was lost
is never published: an orphan that expires in 24 hours.

The 250-posts-a-day quota is read from `threads_publishing_limit` before each publish and
waited for (a QuotaWait: not an attempt); a publish refused for the quota waits the same way.
Deletes keep to their own 100 a day, counted in the channel's shared state. The token travels
in POST bodies and the Authorization header, never in a URL.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any
from urllib.parse import quote

import regex
import requests
from cachetools import LRUCache
from pydantic import Field, field_validator

from feeds.article import Article
from feeds.share import fit, intent_text
from syndicate.values import Text, Url
from worker.social.base import Channel, NetworkSettings, json_body, plausible_int
from worker.social.errors import PermanentError, QuotaWait, RetryableError

MAX_TEXT, MAX_LINKS, MAX_TAG = 500, 5, 50
DAY_S = 86_400.0
QUOTA_TOTAL, DELETES_PER_DAY = 250, 100
QUOTA_WAIT_MIN_S, QUOTA_WAIT_MAX_S = 2.0, 3600.0
QUOTA_GIVE_UP_S = 7 * DAY_S  # a quota that never frees: failed, with the reason
LIST_PAGES, LIST_LIMIT = 3, 100  # the newest 300 threads: far more than a day's 250 posts
THROTTLED = {4, 17, 32, 613}  # request limits: wait, then the same call
QUOTA_CODE, QUOTA_SUBCODE = 9, 2207042
NOT_READY_CODE = 24
ELLIPSIS = "…"
_URL = regex.compile(r"https?://\S+")
_TAG = regex.compile(r"(?<!\w)#\w")
_EMOJI = regex.compile(
    r"[\p{Extended_Pictographic}\p{Emoji_Modifier}\p{Regional_Indicator}"
    r"\u200d\ufe0e\ufe0f\u20e3\U000E0020-\U000E007F]"
)
_ID = regex.compile(r"[0-9]{1,40}")


class ThreadsSettings(NetworkSettings):
    user_id: Text = Field(None, validation_alias="SYNDICATE_THREADS_USER_ID")
    token: Text = Field(None, validation_alias="SYNDICATE_THREADS_TOKEN", repr=False)
    api_url: Url = Field(
        "https://graph.threads.net/v1.0", validation_alias="SYNDICATE_THREADS_API_URL"
    )

    @field_validator("user_id")
    @classmethod
    def _user(cls, value: str | None) -> str | None:
        if value is not None and value != "me" and not _ID.fullmatch(value):
            raise ValueError("SYNDICATE_THREADS_USER_ID must be the numeric Threads profile id")
        return value

    @property
    def enabled(self) -> bool:
        return bool(self.user_id and self.token)


def weight(text: str) -> int:
    """Threads' count: characters, an emoji (every code point of it) as its UTF-8 bytes."""
    return sum(len(ch.encode()) if _EMOJI.match(ch) else 1 for ch in text)


def _links(text: str, url: str) -> str:
    """At most five distinct links with the attachment: the rest of the URLs leave the text."""
    seen = {url}

    def keep(match: Any) -> str:
        if match.group(0) in seen or len(seen) < MAX_LINKS:
            seen.add(match.group(0))
            return str(match.group(0))
        return ""

    return " ".join(_URL.sub(keep, text).split())


def post_text(article: Article) -> str:
    """The share message (or the title) and at most one topic tag: the text's own first `#tag`,
    or else the article's first hashtag that Threads takes (1-50 characters, no `.` or `&`);
    within 500 by `weight`, cut at a word (or between graphemes) with an ellipsis."""
    text = _links(" ".join((article.share.message or article.title).split()), article.url)
    tags = [
        h for h in article.share.hashtags if 1 <= len(h) <= MAX_TAG and not set(h) & {".", "&", "#"}
    ]
    tail = f" #{tags[0]}" if tags and not _TAG.search(text) else ""

    def fits(s: str) -> bool:
        return weight(s) <= MAX_TEXT

    return fit(text, lambda t: fits(t + tail), graphemes=True) + tail


class Threads(Channel):
    name = "threads"
    settings_class = ThreadsSettings
    can_find = True  # the kept container's status, then the profile's threads
    stable_payload = True  # a replacement container carries the first attempt's text

    def __init__(self, config: ThreadsSettings, timeout_s: float, state: Any = None) -> None:
        super().__init__(config, timeout_s, state)
        self.base = config.api_url.rstrip("/")
        self.user = config.user_id or "me"
        self.token = config.token or ""
        self.session.headers["Authorization"] = f"Bearer {self.token}"
        self._urls: LRUCache[str, str] = LRUCache(maxsize=1000)  # media id -> permalink

    def payload(self, article: Article) -> dict[str, Any]:
        return {"media_type": "TEXT", "text": post_text(article), "link_attachment": article.url}

    # The post ----------------------------------------------------------------------------------
    def post(self, payload: dict[str, Any]) -> str:
        container = self.memo.get("container")
        if isinstance(container, dict) and container.get("id"):
            status = self.container_status(container["id"])
            if status == "PUBLISHED":
                return self._published(container)
            if status == "IN_PROGRESS":
                raise RetryableError("the container is still being processed", ambiguous=False)
            if status in ("ERROR", "EXPIRED"):
                container = None  # never published, never publishable: a new one
            elif status != "FINISHED":
                raise RetryableError(f"container status {status!r}", ambiguous=True)
        else:
            container = None
        self._room()
        if container is None:
            container = self._create(payload)
        return self._publish(container)

    def _create(self, payload: dict[str, Any]) -> dict[str, Any]:
        """A new container, kept in the entry before anything can publish it."""
        r = self.call(
            lambda: self.session.post(
                f"{self.base}/{self.user}/threads", data={**payload, "access_token": self.token}
            )
        )
        container_id = str(self.classify(r).get("id") or "")
        if not _ID.fullmatch(container_id):
            raise RetryableError(
                f"container answer without an id: {r.text[:200]}", ambiguous=False
            )  # nothing published
        container = {"id": container_id, "url": payload["link_attachment"], "at": time.time()}
        self.memo.set("container", container)
        return container

    def _publish(self, container: dict[str, Any]) -> str:
        r = self.call(
            lambda: self.session.post(
                f"{self.base}/{self.user}/threads_publish",
                data={"creation_id": container["id"], "access_token": self.token},
            )
        )
        error = json_body(r).get("error")
        if r.status_code >= 400 and isinstance(error, dict):
            if error.get("code") == QUOTA_CODE or error.get("error_subcode") == QUOTA_SUBCODE:
                self._room()  # reads when there is room: a QuotaWait
                raise QuotaWait("the publishing quota is used up", self._quota_wait(None))
            if "already been published" in str(error.get("message") or ""):
                return self._published(container)
        media_id = str(self.classify(r).get("id") or "")
        if not _ID.fullmatch(media_id):
            raise RetryableError(
                f"publish answer without a media id: {r.text[:200]}", ambiguous=True
            )  # the container's status settles it
        self._permalink(media_id)
        return media_id

    def _published(self, container: dict[str, Any]) -> str:
        """The container is published: its media id from the profile's threads."""
        media_id = self._find(str(container.get("url") or ""), float(container.get("at") or 0))
        if media_id:
            return media_id
        raise RetryableError(
            "the container is published but its post is not in the profile's threads yet",
            ambiguous=True,
        )

    def container_status(self, container_id: str) -> str:
        r = self.call(
            lambda: self.session.get(
                f"{self.base}/{container_id}", params={"fields": "status,error_message"}
            )
        )
        return str(self.classify(r).get("status") or "")

    # The quota ---------------------------------------------------------------------------------
    def quota(self) -> tuple[int, int, float]:
        """(used, total, window seconds) from `threads_publishing_limit`; implausible numbers
        in the answer fall back to the documented 250 a day."""
        r = self.call(
            lambda: self.session.get(
                f"{self.base}/{self.user}/threads_publishing_limit",
                params={"fields": "quota_usage,config"},
            )
        )
        data = self.classify(r).get("data")
        item: dict[str, Any] = (
            data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else {}
        )
        config: dict[str, Any] = item["config"] if isinstance(item.get("config"), dict) else {}
        used = plausible_int(item.get("quota_usage"), 0, 0, 100_000)
        total = plausible_int(config.get("quota_total"), QUOTA_TOTAL, 1, 100_000)
        window = plausible_int(config.get("quota_duration"), int(DAY_S), 60, 7 * int(DAY_S))
        return used, total, float(window)

    def _room(self) -> None:
        """A QuotaWait while the profile's publishing quota is used up (bounded: a week)."""
        used, total, window = self.quota()
        since = self.memo.get("quota_full_since")
        if used < total:
            if since:
                self.memo.set("quota_full_since", None)
            return
        if not since:
            self.memo.set("quota_full_since", since := time.time())
        if time.time() - float(since) > QUOTA_GIVE_UP_S:
            raise PermanentError(f"the publishing quota ({total}) has been used up for a week")
        raise QuotaWait(
            f"publishing quota used up: {used} of {total} posts in {window / 3600:g} h",
            self._quota_wait((total, window)),
        )

    @staticmethod
    def _quota_wait(quota: tuple[int, float] | None) -> float:
        """One post's share of the window (rolling: one leaves it about that often)."""
        total, window = quota or (QUOTA_TOTAL, DAY_S)
        return min(max(window / total, QUOTA_WAIT_MIN_S), QUOTA_WAIT_MAX_S)

    # Reads -------------------------------------------------------------------------------------
    def _find(self, url: str, since: float = 0) -> str | None:
        """The newest threads of the profile (three pages), looking for the article's link,
        made no earlier than the container (a minute's slack)."""
        params = {
            "fields": "id,permalink,text,link_attachment_url,timestamp",
            "limit": str(LIST_LIMIT),
        }
        for _ in range(LIST_PAGES):
            r = self.call(
                lambda: self.session.get(f"{self.base}/{self.user}/threads", params=dict(params))
            )
            body = self.classify(r)
            for item in body.get("data") or []:
                if not isinstance(item, dict) or not _ID.fullmatch(str(item.get("id") or "")):
                    continue
                linked = item.get("link_attachment_url") == url or url in str(item.get("text"))
                if url and linked and _timestamp(item.get("timestamp")) >= since - 60:
                    self._keep_url(str(item["id"]), item.get("permalink"))
                    return str(item["id"])
            after = ((body.get("paging") or {}).get("cursors") or {}).get("after")
            if not after or not (body.get("paging") or {}).get("next"):
                return None
            params["after"] = str(after)[:500]
        return None

    def find_existing(self, url: str) -> str | None:
        """After an uncertain attempt: nothing is ever published without a kept container, and
        the container's status says whether it was."""
        container = self.memo.get("container")
        if not isinstance(container, dict) or not container.get("id"):
            return None
        status = self.container_status(container["id"])
        if status == "PUBLISHED":
            return self._published(container)
        if status in ("FINISHED", "IN_PROGRESS", "ERROR", "EXPIRED"):
            return None
        raise RetryableError(f"container status {status!r}", ambiguous=True)

    def _permalink(self, media_id: str) -> None:
        try:
            r = self.session.get(f"{self.base}/{media_id}", params={"fields": "permalink"})
            self._keep_url(media_id, json_body(r).get("permalink"))
        except requests.RequestException:
            pass  # the address is a nicety; the id is what counts

    def _keep_url(self, media_id: str, permalink: Any) -> None:
        if isinstance(permalink, str) and permalink.startswith("https://"):
            self._urls[media_id] = permalink

    def remote_url(self, remote_id: str) -> str:
        return self._urls.get(remote_id, "")

    # Delete ------------------------------------------------------------------------------------
    def delete(self, remote_id: str) -> None:
        if not _ID.fullmatch(remote_id):
            raise PermanentError(f"not a Threads media id: {remote_id[:80]!r}")
        done = self._deletes()
        if len(done) >= DELETES_PER_DAY:
            raise QuotaWait(
                f"{DELETES_PER_DAY} deletes in 24 h: the daily limit",
                min(max(done[0] + DAY_S - time.time(), 1.0), DAY_S),
            )
        r = self.call(lambda: self.session.delete(f"{self.base}/{remote_id}"))
        error = json_body(r).get("error")
        if (
            isinstance(error, dict)
            and error.get("code") == 100
            and (error.get("error_subcode") == 33 or "does not exist" in str(error.get("message")))
        ):
            return  # already gone
        self.classify(r)  # a request limit backs off like any other
        if self.state is not None:
            self.state.set("deletes", [*done, time.time()][-DELETES_PER_DAY:])

    def _deletes(self) -> list[float]:
        """Our deletes in the last 24 hours, oldest first (shared by every worker)."""
        kept = self.state.get("deletes") if self.state is not None else None
        now = time.time()
        return sorted(
            float(t)
            for t in kept or []
            if isinstance(t, (int, float)) and now - DAY_S < float(t) <= now
        )

    # The rest ----------------------------------------------------------------------------------
    @classmethod
    def share_link(cls, config: Any, article: Article) -> str | None:
        return f"https://www.threads.net/intent/post?text={quote(intent_text(article), safe='')}"

    def health_check(self) -> str:
        """`threads_publishing_limit`: the token works for this profile with the publishing
        permission, and how much of the day's quota is used."""
        used, total, window = self.quota()
        return f"profile {self.user}: {used} of {total} posts used in {window / 3600:g} h"

    @staticmethod
    def classify(r: requests.Response) -> dict[str, Any]:
        body = json_body(r)
        error = body.get("error") if isinstance(body.get("error"), dict) else None
        if 200 <= r.status_code < 300 and error is None:
            return body
        error = error or {}
        code, sub = error.get("code"), error.get("error_subcode")
        reason = f"HTTP {r.status_code}: ({code}/{sub}) {error.get('message') or r.text[:200]}"
        if code == QUOTA_CODE or sub == QUOTA_SUBCODE or code in THROTTLED:
            raise RetryableError(reason, ambiguous=False)
        if code == NOT_READY_CODE:
            raise RetryableError(reason, ambiguous=False)
        if code in (1, 2) or error.get("is_transient") is True or r.status_code >= 500:
            raise RetryableError(reason, ambiguous=True)
        raise PermanentError(reason)  # 190 token, 10 permission, 100 parameter, the rest


def _timestamp(value: Any) -> float:
    """A Graph timestamp (`2026-12-01T12:00:00+0000`) as epoch seconds; absent or unreadable:
    no bound (the link alone decides)."""
    try:
        return datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%S%z").timestamp()
    except ValueError:
        return float("inf")
