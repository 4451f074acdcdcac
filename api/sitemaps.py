"""Sitemaps: `/sitemaps/news.xml` (Google News) and `/feeds/sitemap.xml` (the feed pages).

Both are public, with a strong ETag (304 on If-None-Match) and the feeds' Cache-Control. The
bytes are built in a worker thread (feeds/sitemap.py writes them) and kept per API process until
what they show changes:
- news: the fingerprint of worker/store/news.py (a version bumped by every publish, update and
  retraction, and the number of articles still within the two days): two small reads per
  request, a rebuild only after a change, so a retraction leaves the sitemap at the next fetch;
- feed pages: the catalogue snapshot of api/serving.py (the same one the index and the OPML
  use). It sits under `/feeds/` because a sitemap may list only URLs under its own directory.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from api.serving import CACHE_CONTROL, NOSNIFF, UNAVAILABLE
from feeds.describe import feed_page_url
from feeds.membership import ALL, AUDIO
from feeds.sitemap import NewsItem, news_sitemap, url_sitemap
from worker.runtime import Runtime
from worker.store.news import News
from worker.store.rendered import etag_of

MEDIA_TYPE = "application/xml; charset=utf-8"


@dataclass(frozen=True)
class Built:
    version: Any
    etag: str
    body: bytes


class Sitemaps:
    """The two sitemaps of one API process, each rebuilt only when its version changes; one
    build at a time (the others wait and share it). Methods run in worker threads."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self._lock = threading.Lock()
        self._news: Built | None = None
        self._feeds: Built | None = None
        self.builds = 0

    def news(self) -> Built:
        store = News(self._rt.redis)
        version = store.fingerprint()
        with self._lock:
            if self._news is not None and self._news.version == version:
                return self._news
            settings, site = self._rt.settings, self._rt.site
            items = [
                NewsItem(e.url, e.title, datetime.fromtimestamp(e.first_published, UTC), e.language)
                for e in store.recent()
            ]
            body = news_sitemap(items, settings.news_publication or site.title, site.language)
            self._news = Built(version, etag_of(body), body)
            self.builds += 1
            return self._news

    def feeds(self, catalogue: Any) -> Built:
        snap = catalogue.current()
        with self._lock:
            if self._feeds is not None and self._feeds.version is snap:
                return self._feeds
            public = self._rt.site.public_url
            rows = sorted(snap.rows, key=_order)
            urls = [
                public.rstrip("/") + "/feeds/",
                *(feed_page_url(public, key) for key, _, _ in rows),
            ]
            body = url_sitemap(urls)
            self._feeds = Built(snap, etag_of(body), body)
            self.builds += 1
            return self._feeds


def _order(row: tuple[str, str, int]) -> tuple[int, int, str]:
    """`all`, `audio`, the sections, then the feeds with the most items (kept if over 50,000)."""
    key, _, count = row
    rank = 0 if key == ALL else 1 if key == AUDIO else 2 if key.startswith("section/") else 3
    return rank, -count if rank == 3 else 0, key


def _sitemaps(request: Request) -> Sitemaps:
    state = request.app.state
    built = getattr(state, "sitemaps", None)
    if built is None:
        built = state.sitemaps = Sitemaps(state.runtime)
    return built


def _answer(request: Request, built: Built) -> Response:
    headers = {"ETag": built.etag, "Cache-Control": CACHE_CONTROL, **NOSNIFF}
    inm = request.headers.get("if-none-match")
    if inm is not None and {"*", built.etag} & {
        t.strip().removeprefix("W/") for t in inm.split(",")
    }:
        return Response(status_code=304, headers=headers)
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(built.body))
        return Response(status_code=200, headers=headers, media_type=MEDIA_TYPE)
    return Response(built.body, headers=headers, media_type=MEDIA_TYPE)


async def news(request: Request) -> Response:
    """The Google News sitemap: articles first published in the last 48 hours."""
    try:
        built = await run_in_threadpool(_sitemaps(request).news)
    except redis.RedisError:
        return UNAVAILABLE
    return _answer(request, built)


async def feed_pages(request: Request) -> Response:
    """A sitemap of the feeds' HTML pages (and the index), at most 50,000 URLs."""
    sitemaps = _sitemaps(request)
    try:
        built = await run_in_threadpool(sitemaps.feeds, request.app.state.catalogue)
    except redis.RedisError:
        return UNAVAILABLE
    return _answer(request, built)
