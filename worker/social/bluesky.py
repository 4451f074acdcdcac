"""Bluesky (AT Protocol): an `app.bsky.feed.post` written with `com.atproto.repo.putRecord`.

Exactly once by a record key chosen once: the payload (a TID record key and the whole record,
`createdAt` included) is made on the first attempt and stored with the intent before the first
call (`stable_payload`); every attempt sends those same bytes with `swapRecord: null`, so the
PDS creates the post once and answers a repeat with "already there" (200 without a commit, or
`InvalidSwap` for the same key). Unpublish deletes the record (`deleteRecord`; gone is fine).

The session is created once (app password → `createSession`) and kept in Redis for every
worker; an expired access token (400 `ExpiredToken`) is refreshed with `refreshSession`, and
only an invalid session logs in again, because logins are scarce (30 per 5 minutes).

The post: text within 300 graphemes and 3,000 UTF-8 bytes, link and hashtag facets with byte
offsets, an `app.bsky.embed.external` card with the title, summary and, where the lead image is
on the site's own host, its thumbnail as an uploaded blob (no other host is ever fetched).
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import regex
import requests
from pydantic import Field

from feeds.article import Article
from feeds.share import fit, intent_text
from feeds.text import html_to_text
from syndicate.values import Text, Url
from worker import outbound
from worker.social.base import Channel, NetworkSettings, json_body, seconds_until
from worker.social.errors import PermanentError, RetryableError

POST = "app.bsky.feed.post"
MAX_GRAPHEMES, MAX_BYTES = 300, 3000
THUMB_MAX_BYTES = 1_000_000
B32 = "234567abcdefghijklmnopqrstuvwxyz"
ELLIPSIS = "…"


class BlueskySettings(NetworkSettings):
    handle: Text = Field(None, validation_alias="SYNDICATE_BLUESKY_HANDLE")
    app_password: Text = Field(None, validation_alias="SYNDICATE_BLUESKY_APP_PASSWORD", repr=False)
    pds: Url = Field("https://bsky.social", validation_alias="SYNDICATE_BLUESKY_PDS")
    site_url: Text = Field(None, validation_alias="SYNDICATE_SITE_URL")  # thumbnails from here only
    allow_private_addresses: bool = Field(
        False, validation_alias="SYNDICATE_ALLOW_PRIVATE_ADDRESSES"
    )

    @property
    def enabled(self) -> bool:
        return bool(self.handle and self.app_password)


def make_tid(micros: int | None = None, clock_id: int | None = None) -> str:
    """A TID record key: 53 bits of microseconds since the epoch, 10 bits of clock id."""
    micros = int(time.time() * 1_000_000) if micros is None else micros
    clock_id = random.randrange(1024) if clock_id is None else clock_id
    n, out = (micros << 10) | (clock_id & 0x3FF), ""
    for _ in range(13):
        out, n = B32[n & 31] + out, n >> 5
    return out


def graphemes(text: str) -> int:
    return len(regex.findall(r"\X", text))


def fits(text: str) -> bool:
    return graphemes(text) <= MAX_GRAPHEMES and len(text.encode()) <= MAX_BYTES


def post_text(article: Article) -> tuple[str, list[str]]:
    """The share message (or the title), the URL in full, and the hashtags that fit."""
    text = " ".join((article.share.message or article.title).split())
    tags = list(article.share.hashtags)

    def tail(n: int) -> str:
        return " " + article.url + "".join(f" #{t}" for t in tags[:n])

    n = len(tags)
    while n and not fits(text[:1] + ELLIPSIS + tail(n)):
        n -= 1
    cut = fit(text, lambda t: fits(t + tail(n)), at_words=False, graphemes=True)
    return cut + tail(n), tags[:n]


def facets(text: str, url: str, tags: list[str]) -> list[dict[str, Any]]:
    """The link and each hashtag, by UTF-8 byte offsets (the facet's `#` included)."""
    data = text.encode()
    out = []
    start = data.rindex(url.encode())
    out.append(
        {
            "index": {"byteStart": start, "byteEnd": start + len(url.encode())},
            "features": [{"$type": "app.bsky.richtext.facet#link", "uri": url}],
        }
    )
    cursor = start + len(url.encode())
    for tag in tags:
        marker = f"#{tag}".encode()
        at = data.index(marker, cursor)
        out.append(
            {
                "index": {"byteStart": at, "byteEnd": at + len(marker)},
                "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": tag}],
            }
        )
        cursor = at + len(marker)
    return out


class Bluesky(Channel):
    name = "bluesky"
    settings_class = BlueskySettings
    can_find = True
    stable_payload = True

    def __init__(self, config: BlueskySettings, timeout_s: float, state: Any = None) -> None:
        super().__init__(config, timeout_s, state)
        self.base = config.pds.rstrip("/")
        self._session: dict[str, Any] | None = None

    # Session -----------------------------------------------------------------------------------
    def _xrpc(
        self, method: str, nsid: str, token: str | None = None, **kwargs: Any
    ) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}))
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.call(
            lambda: self.session.request(
                method, f"{self.base}/xrpc/{nsid}", headers=headers, **kwargs
            )
        )

    def _login(self) -> dict[str, Any]:
        r = self._xrpc(
            "POST",
            "com.atproto.server.createSession",
            json={"identifier": self.config.handle, "password": self.config.app_password},
        )
        body = self.classify(r)
        return self._keep({k: body[k] for k in ("did", "handle", "accessJwt", "refreshJwt")})

    def _keep(self, session: dict[str, Any]) -> dict[str, Any]:
        self._session = session
        if self.state is not None:
            self.state.set("session", session)
        return session

    def _current(self) -> dict[str, Any]:
        if self._session is None and self.state is not None:
            self._session = self.state.get("session")
        return self._session or self._login()

    def _refresh(self) -> dict[str, Any]:
        session = self._current()
        r = self._xrpc("POST", "com.atproto.server.refreshSession", token=session["refreshJwt"])
        if r.status_code == 200:
            body = json_body(r)
            return self._keep(
                {**session, "accessJwt": body["accessJwt"], "refreshJwt": body["refreshJwt"]}
            )
        return self._login()  # the refresh token too is gone: one new login

    def _authed(self, method: str, nsid: str, **kwargs: Any) -> requests.Response:
        """A call with the access token; an expired one is refreshed and the call sent again
        once; an invalid session logs in again once."""
        r = self._xrpc(method, nsid, token=self._current()["accessJwt"], **kwargs)
        error = json_body(r).get("error")
        if r.status_code == 400 and error == "ExpiredToken":
            r = self._xrpc(method, nsid, token=self._refresh()["accessJwt"], **kwargs)
        elif r.status_code in (400, 401) and error in ("InvalidToken", "AuthMissing"):
            r = self._xrpc(method, nsid, token=self._login()["accessJwt"], **kwargs)
        return r

    # The post ----------------------------------------------------------------------------------
    def payload(self, article: Article) -> dict[str, Any]:
        text, tags = post_text(article)
        external: dict[str, Any] = {
            "uri": article.url,
            "title": article.title,
            "description": html_to_text(article.summary)[:1000],
        }
        record: dict[str, Any] = {
            "$type": POST,
            "text": text,
            "createdAt": datetime.now(UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "facets": facets(text, article.url, tags),
            "embed": {"$type": "app.bsky.embed.external", "external": external},
        }
        if article.language:
            record["langs"] = [article.language]
        thumb = self._thumb(article)
        if thumb:
            external["thumb"] = thumb
        return {"rkey": make_tid(), "record": record}

    def _thumb(self, article: Article) -> dict[str, Any] | None:
        """The lead image as a blob, only from the site's own origin (scheme, host and port, as
        urllib3 parses them), fetched through worker.outbound: one resolution, a public
        address only, no redirect, at most THUMB_MAX_BYTES."""
        image = article.image
        site = self.config.site_url
        if image is None or not site or not outbound.same_origin(image.url, site):
            return None
        try:
            got = outbound.fetch(
                image.url,
                allow_private=self.config.allow_private_addresses,
                max_bytes=THUMB_MAX_BYTES,
                timeout=self.session.timeout[1],
                headers={"Accept": "image/*"},
            )
        except requests.RequestException:  # refused, too large, too slow, unreachable
            return None
        kind, data = got.media_type, got.content if got.status_code == 200 else b""
        if not kind.startswith("image/") or not data:
            return None
        up = self._authed(
            "POST", "com.atproto.repo.uploadBlob", data=data, headers={"Content-Type": kind}
        )
        return json_body(up).get("blob") if up.status_code == 200 else None

    def post(self, payload: dict[str, Any]) -> str:
        did = self._current()["did"]
        r = self._authed(
            "POST",
            "com.atproto.repo.putRecord",
            json={
                "repo": did,
                "collection": POST,
                "rkey": payload["rkey"],
                "record": payload["record"],
                "swapRecord": None,
            },
        )
        body = json_body(r)
        if r.status_code == 400 and body.get("error") == "InvalidSwap":
            # a record with this key exists: ours, from an earlier attempt (the key is ours alone)
            return f"at://{did}/{POST}/{payload['rkey']}"
        self.classify(r)
        return str(body.get("uri") or f"at://{did}/{POST}/{payload['rkey']}")

    def remote_url(self, remote_id: str) -> str:
        did, _, rkey = remote_id.removeprefix("at://").partition(f"/{POST}/")
        return f"https://bsky.app/profile/{did}/post/{rkey}" if rkey else ""

    def delete(self, remote_id: str) -> None:
        did, _, rkey = remote_id.removeprefix("at://").partition(f"/{POST}/")
        self.classify(
            self._authed(
                "POST",
                "com.atproto.repo.deleteRecord",
                json={"repo": did, "collection": POST, "rkey": rkey},
            )
        )

    def find_existing(self, url: str) -> str | None:
        """The account's newest records, looking for the article's card."""
        did = self._current()["did"]
        r = self._xrpc(
            "GET",
            "com.atproto.repo.listRecords",
            params={"repo": did, "collection": POST, "limit": "50"},
        )
        for item in self.classify(r).get("records") or []:
            external = (((item or {}).get("value") or {}).get("embed") or {}).get("external") or {}
            if external.get("uri") == url:
                return str(item["uri"])
        return None

    @classmethod
    def share_link(cls, config: Any, article: Article) -> str | None:
        text = intent_text(article)
        return f"https://bsky.app/intent/compose?text={quote(text, safe='')}"

    def health_check(self) -> str:
        """`getSession` with the kept (or a new) session."""
        body = self.classify(self._authed("GET", "com.atproto.server.getSession"))
        return f"session for @{body.get('handle')} ({body.get('did')})"

    @staticmethod
    def classify(r: requests.Response) -> dict[str, Any]:
        body = json_body(r)
        if 200 <= r.status_code < 300:
            return body
        reason = (
            f"HTTP {r.status_code}: {body.get('error') or ''} {body.get('message') or r.text[:200]}"
        )
        if r.status_code == 429:
            wait = seconds_until(r.headers.get("ratelimit-reset"))
            if wait is None and (r.headers.get("retry-after") or "").isdigit():
                wait = float(r.headers["retry-after"]) + 1
            raise RetryableError(reason, ambiguous=False, wait_s=wait)
        if r.status_code >= 500 and r.status_code != 501:
            raise RetryableError(reason, ambiguous=True)
        raise PermanentError(reason)
