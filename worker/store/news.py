"""Articles first published recently: what the Google News sitemap lists (api/sitemaps.py).

zset `syn:news:published`: article id -> its first publication (epoch s: the `published_at` of
the version that first made it live, never later than when it went live). Written in the same
MULTI as the publish (worker/store/articles.py calls `published_in`), with NX so a later update
keeps the first date; members older than the window are trimmed on every write, so the set holds
about two days of articles however large the archive. A retraction or a purge removes the
article in its own MULTI (`retracted_in`): it leaves the sitemap at once.
string `syn:news:article:<id>`: JSON {url, title, language} of its latest version (expires a
little after the window). counter `syn:news:version`: bumped on every change, so a reader
knows cheaply whether what it built is still current.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from worker.store._prefix import PREFIX, Client, part

PUBLISHED = f"{PREFIX}news:published"
VERSION = f"{PREFIX}news:version"
WINDOW_S = 48 * 3600  # Google: articles created in the last two days
KEPT_S = WINDOW_S + 3600  # an entry outlives the window a little
MAX_ENTRIES = 1_000  # Google: at most 1,000 news:news per sitemap


def entry_key(article_id: str) -> str:
    return f"{PREFIX}news:article:{part(article_id)}"


@dataclass(frozen=True)
class NewsEntry:
    article_id: str
    first_published: float  # epoch s
    url: str
    title: str
    language: str | None


def published_in(
    pipe: Any,
    article_id: str,
    published_at: datetime,
    url: str,
    title: str,
    language: str | None,
    now: float | None = None,
) -> None:
    """Inside the publish's MULTI: list the article (its first date kept) and trim the old."""
    now = time.time() if now is None else now
    first = min(published_at.timestamp(), now)
    if first < now - WINDOW_S:
        return  # an archive (backfill, an old article updated): not news
    pipe.zadd(PUBLISHED, {article_id: first}, nx=True)
    pipe.set(
        entry_key(article_id),
        json.dumps({"url": url, "title": title, "language": language}),
        ex=KEPT_S,
    )
    pipe.zremrangebyscore(PUBLISHED, "-inf", f"({now - WINDOW_S:.3f}")
    pipe.incr(VERSION)


def retracted_in(pipe: Any, article_id: str) -> None:
    """Inside the retraction's (or purge's) MULTI: the article leaves the sitemap."""
    pipe.zrem(PUBLISHED, article_id)
    pipe.delete(entry_key(article_id))
    pipe.incr(VERSION)


class News:
    def __init__(self, client: Client) -> None:
        self._r = client

    def fingerprint(self, now: float | None = None) -> tuple[int, int]:
        """(version, entries within the window): changes with every publish and retraction,
        and when an entry ages out of the window. Two O(log n) reads."""
        cutoff = (time.time() if now is None else now) - WINDOW_S
        pipe = self._r.pipeline(transaction=False)
        pipe.get(VERSION)
        pipe.zcount(PUBLISHED, cutoff, "+inf")
        version, count = pipe.execute()
        return int(version or 0), int(count)

    def recent(self, now: float | None = None, limit: int = MAX_ENTRIES) -> list[NewsEntry]:
        """Articles first published within the window, newest first, at most `limit`."""
        cutoff = (time.time() if now is None else now) - WINDOW_S
        rows = self._r.zrevrangebyscore(
            PUBLISHED, "+inf", cutoff, start=0, num=limit, withscores=True
        )
        if not rows:
            return []
        ids = [member.decode() for member, _ in rows]
        docs = self._r.mget([entry_key(article_id) for article_id in ids])
        out = []
        for article_id, (_, score), doc in zip(ids, rows, docs):
            if not doc:
                continue
            data = json.loads(doc)
            out.append(
                NewsEntry(
                    article_id,
                    float(score),
                    str(data.get("url") or ""),
                    str(data.get("title") or ""),
                    data.get("language"),
                )
            )
        return out
