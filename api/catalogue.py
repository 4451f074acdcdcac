"""The index `/feeds/` and `/feeds.opml`, from the catalogue: a snapshot of every feed with
items (key, title, article count), built in a worker thread once per change of the catalogue's
version (the number of feeds and of renders: a title or a membership changes only with a
render), never more often than a fifth of the time (a build of t seconds waits 4t before the
next). Pages and the OPML are made once per snapshot, served with a strong ETag (304 on
If-None-Match) and `Cache-Control: public, max-age=60`.

The index lists the feeds grouped: the main feeds (`all`, `audio`), the sections, the tags, the
authors, each group in key order, 100 feeds a page (`?page=N`); a group that runs over a page
goes on with its heading repeated, and every page links to the page each group starts on. The
count is the articles the feed's membership holds (the feed itself shows the newest
SYNDICATE_FEED_SIZE; its page reaches back to the membership's cap, shown as "N+").
The OPML lists at most 500 feeds (`all`, `audio`, the sections, then the feeds with the most
articles), three outlines each (RSS, Atom, JSON Feed), for feed readers import OPML whole and
one subscription per feed is what a reader can use; the index lists them all.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from xml.etree import ElementTree as ET

import redis
from cachetools import LRUCache
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from api.feedhttp import (
    BAD_PAGE,
    CACHE_CONTROL,
    NOSNIFF,
    UNAVAILABLE,
    etag_matches,
    page_number,
    text,
)
from api.html import HEADERS as HTML_HEADERS
from api.html import render_page
from feeds.describe import feed_page_url, feed_url
from feeds.membership import ALL, AUDIO
from worker.runtime import Runtime
from worker.store.rendered import etag_of

INDEX_PAGE_SIZE = 100
OPML_MAX_FEEDS = 500
CATALOGUE_DUTY = 4  # after a build of t seconds, the next waits at least this times t
ENTRY_OVERHEAD = 256  # what a cached page costs beyond its bytes
PAGES_CACHE_BYTES = 8 * 2**20  # the index pages made from one snapshot
OPML_MEDIA_TYPE = "text/x-opml; charset=utf-8"
GROUPS = ("Main feeds", "Sections", "Tags", "Authors")
Row = tuple[str, str, int]  # (key, title, article count)


def group_of(key: str) -> int:
    """The index's group of a feed: 0 main, 1 sections, 2 tags, 3 authors."""
    if key in (ALL, AUDIO):
        return 0
    return {"section": 1, "tag": 2, "author": 3}.get(key.partition("/")[0], 2)


@dataclass
class Snapshot:
    """The catalogue at one version: (key, title, article count) of every feed with items,
    grouped (`group_of`) and in key order within a group, the OPML made from them, and the index
    pages made so far (bounded in bytes)."""

    version: tuple[int, str]
    rows: tuple[Row, ...]
    opml: tuple[str, bytes]  # (ETag, bytes)
    built_at: float
    took: float
    cap: int = 0  # a membership holds at most this many articles
    pages: LRUCache[int, tuple[str, bytes]] = field(
        default_factory=lambda: LRUCache(
            PAGES_CACHE_BYTES, getsizeof=lambda entry: len(entry[1]) + ENTRY_OVERHEAD
        )
    )

    @property
    def page_count(self) -> int:
        return max(1, math.ceil(len(self.rows) / INDEX_PAGE_SIZE))


class Catalogue:
    """The feeds the index and the OPML list, built once per version (module docstring). Its
    methods run in worker threads (run_in_threadpool): one build at a time, the others wait for
    it and share it."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self.builds = 0

    def version(self) -> tuple[int, str]:
        """Cheap (two small reads): the number of feeds and of renders ever made. What the
        listing shows changes only with one of them: a feed joins or leaves, or a render writes
        a feed's title (and follows every change of its membership)."""
        store = self._rt.store
        return store.articles.feed_count(), repr(store.counters.totals().renders)

    def current(self) -> Snapshot:
        version = self.version()
        with self._lock:
            snap = self._snapshot
            if snap is not None and (
                snap.version == version
                or time.monotonic() - snap.built_at < CATALOGUE_DUTY * snap.took
            ):
                return snap
            started = time.monotonic()
            rows = _listing(self._rt)
            data = _opml_bytes(self._rt, rows)
            done = time.monotonic()
            self._snapshot = Snapshot(
                version,
                rows,
                (etag_of(data), data),
                done,
                done - started,
                cap=self._rt.store.articles.membership_cap,
            )
            self.builds += 1
            return self._snapshot

    def index_page(self, number: int) -> tuple[Snapshot, tuple[str, bytes] | None]:
        """The snapshot and its page `number` (ETag, HTML); None past the last page."""
        snap = self.current()
        if number > snap.page_count:
            return snap, None
        with self._lock:
            page = snap.pages.get(number)
            if page is None:
                html = _index_html(self._rt, snap, number)
                page = (etag_of(html), html)
                if len(html) + ENTRY_OVERHEAD <= PAGES_CACHE_BYTES:
                    snap.pages[number] = page
            return snap, page


def _listing(rt: Runtime) -> tuple[Row, ...]:
    """Every rendered feed with articles: title from its last render, count from its membership."""
    feed_keys = rt.store.articles.all_feeds()
    counts = dict(zip(feed_keys, rt.store.articles.item_counts(feed_keys)))
    with_items = [key for key, n in counts.items() if n]
    titles = rt.store.feeds.listing(with_items)
    rows = [(key, title, counts[key]) for key, (title, _) in titles.items()]
    return tuple(sorted(rows, key=lambda row: (group_of(row[0]), row[0])))


def _group_starts(snap: Snapshot) -> list[tuple[str, int]]:
    """(group name, the index page it starts on) of each group present."""
    starts: dict[int, int] = {}
    for i, (key, _, _) in enumerate(snap.rows):
        starts.setdefault(group_of(key), i // INDEX_PAGE_SIZE + 1)
    return [(GROUPS[g], page) for g, page in sorted(starts.items())]


def _index_html(rt: Runtime, snap: Snapshot, number: int) -> bytes:
    start = (number - 1) * INDEX_PAGE_SIZE
    groups: list[tuple[str, list[tuple[str, str, str, str]]]] = []
    for key, title, count in snap.rows[start : start + INDEX_PAGE_SIZE]:
        name = GROUPS[group_of(key)]
        if not groups or groups[-1][0] != name:
            groups.append((name, []))
        shown = f"{count}+" if snap.cap and count >= snap.cap else str(count)
        groups[-1][1].append((key, title, shown, feed_page_url(rt.site.public_url, key)))
    shown_rows = sum(len(rows) for _, rows in groups)
    return bytes(
        render_page(
            "feeds.html",
            title=f"{rt.site.title}: feeds",
            groups=groups,
            starts=_group_starts(snap),
            opml=rt.site.public_url.rstrip("/") + "/feeds.opml",
            page=number,
            pages=snap.page_count,
            total=len(snap.rows),
            first=start + 1,
            last=start + shown_rows,
            opml_max=OPML_MAX_FEEDS,
        ).body
    )


def _opml_order(row: Row) -> tuple[int, int, int, str]:
    """`all`, `audio`, the sections (the broadest first), then the feeds with the most items."""
    key, _, count = row
    if key == ALL:
        return (0, 0, 0, key)
    if key == AUDIO:
        return (1, 0, 0, key)
    if key.startswith("section/"):
        return (2, key.count("/"), 0, key)
    return (3, 0, -count, key)


def _opml_bytes(rt: Runtime, rows: tuple[Row, ...]) -> bytes:
    chosen = sorted(rows, key=_opml_order)[:OPML_MAX_FEEDS]
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = f"{rt.site.title} feeds"
    body = ET.SubElement(root, "body")
    if len(rows) > len(chosen):
        index = rt.site.public_url.rstrip("/") + "/feeds/"
        body.append(ET.Comment(f" {len(chosen)} of {len(rows)} feeds; every feed: {index} "))
    for key, title, _ in chosen:
        for fmt, name in (("rss", "RSS"), ("atom", "Atom"), ("json", "JSON Feed")):
            ET.SubElement(
                body,
                "outline",
                type="rss",
                text=f"{title} ({name})",
                title=f"{title} ({name})",
                xmlUrl=feed_url(rt.site.public_url, key, fmt),
                htmlUrl=feed_page_url(rt.site.public_url, key),
            )
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


async def feed_index(request: Request) -> Response:
    """`/feeds/?page=N`: every feed with items, grouped, its title and article count."""
    number = page_number(request.query_params.get("page"))
    if number is None:
        return text(BAD_PAGE, 400)
    try:
        _, page = await run_in_threadpool(request.app.state.catalogue.index_page, number)
    except redis.RedisError:
        return UNAVAILABLE
    if page is None:
        return text("no such page", 404)
    etag, html = page
    headers = {**HTML_HEADERS, "Cache-Control": CACHE_CONTROL, "ETag": etag}
    if etag_matches(request, etag):
        return Response(status_code=304, headers=headers)
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(html))
        return Response(status_code=200, headers=headers, media_type="text/html; charset=utf-8")
    return Response(html, headers=headers, media_type="text/html; charset=utf-8")


async def opml(request: Request) -> Response:
    """The feeds with items (at most OPML_MAX_FEEDS), by title, in each of their three formats."""
    try:
        snap = await run_in_threadpool(request.app.state.catalogue.current)
    except redis.RedisError:
        return UNAVAILABLE
    etag, data = snap.opml
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL, **NOSNIFF}
    if etag_matches(request, etag):
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=OPML_MEDIA_TYPE, headers=headers)
