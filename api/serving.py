"""Feed serving: stored bytes, conditional GET, gzip, WebSub discovery headers. Never renders.

The body cache keeps the bytes of each feed's current ETag in memory (and their gzip, made once
per ETag), so a GET costs one small Redis read (the meta hash) and a HEAD or 304 never reads the
body at all. The gzip variant is a different representation, so it has its own strong ETag. The
cache is bounded in bytes (SYNDICATE_BODY_CACHE_MB, gzip copies included), not in entries.

The index `/feeds/` and `/feeds.opml` come from the catalogue: a snapshot of every feed with
items (key, title, item count), built in a worker thread once per change of the catalogue's
version (the number of feeds and of renders: a title or an item count changes only in a render),
never more often than a fifth of the time (a build of t seconds waits 4t before the next). Pages
and the OPML are made once per snapshot, served with a strong ETag (304 on If-None-Match) and
`Cache-Control: public, max-age=60`. The index is paginated (`?page=N`, 100 feeds a page); the
OPML lists at most 500 feeds (`all`, `audio`, the sections, then the feeds with the most items),
three outlines each (RSS, Atom, JSON Feed), for feed readers import OPML whole and one
subscription per feed is what a reader can use; the index lists them all.
"""

from __future__ import annotations

import gzip
import json
import math
import threading
import time
from dataclasses import dataclass, field
from email.utils import format_datetime, parsedate_to_datetime
from importlib import resources
from xml.etree import ElementTree as ET

import redis
from cachetools import LRUCache
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from api.html import HEADERS as HTML_HEADERS
from api.html import render_page
from feeds.describe import describe, feed_page_url, feed_url
from feeds.membership import ALL, AUDIO, is_feed_key
from feeds.render import EPOCH, render
from worker.runtime import Runtime
from worker.store.feeds import etag_of

MEDIA_TYPES = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
}
CACHE_CONTROL = "public, max-age=60"
STYLESHEET = resources.files("feeds").joinpath("style.xsl").read_bytes()
GZIP_MIN_BYTES = 512  # below this, the gzip header costs more than it saves
NOSNIFF = {"X-Content-Type-Options": "nosniff"}
NOT_FOUND = Response("no such feed\n", status_code=404, media_type="text/plain", headers=NOSNIFF)
EMPTY_LAST_MODIFIED = format_datetime(EPOCH, usegmt=True)
UNAVAILABLE = Response("store unavailable\n", status_code=503, media_type="text/plain",
                       headers={"Retry-After": "5", **NOSNIFF})
EMPTY_FEEDS_BYTES = 2 * 2**20  # the in-memory empty feeds (a few KB each)
ENTRY_OVERHEAD = 256  # what an entry costs beyond its bytes (key, tuple), so tiny ones count too
INDEX_PAGE_SIZE = 100
OPML_MAX_FEEDS = 500
CATALOGUE_DUTY = 4  # after a build of t seconds, the next waits at least this times t
PAGES_CACHE_BYTES = 8 * 2**20  # the index pages made from one snapshot
OPML_MEDIA_TYPE = "text/x-opml; charset=utf-8"


def _entry_size(entry: tuple[str, bytes, bytes | None]) -> int:
    return len(entry[1]) + len(entry[2] or b"") + ENTRY_OVERHEAD


class BodyCache:
    """Feed bytes and their gzip by (key, format) for one ETag; a new ETag replaces the entry,
    and the least recently used entries go first (cachetools), so that the bytes held, gzip
    included, stay under `max_bytes`. A body larger than the whole cache is not kept."""

    def __init__(self, max_bytes: int = 64 * 2**20) -> None:
        self._data: LRUCache[tuple[str, str], tuple[str, bytes, bytes | None]] = \
            LRUCache(max_bytes, getsizeof=_entry_size)

    @property
    def size_bytes(self) -> int:
        return int(self._data.currsize)

    @property
    def max_bytes(self) -> int:
        return int(self._data.maxsize)

    def _set(self, key: str, fmt: str, entry: tuple[str, bytes, bytes | None]) -> None:
        if _entry_size(entry) > self._data.maxsize:
            self._data.pop((key, fmt), None)
            return
        self._data[(key, fmt)] = entry

    def get(self, key: str, fmt: str, etag: str) -> bytes | None:
        hit = self._data.get((key, fmt))
        return hit[1] if hit and hit[0] == etag else None

    def put(self, key: str, fmt: str, etag: str, body: bytes) -> None:
        self._set(key, fmt, (etag, body, None))

    def gzipped(self, key: str, fmt: str, etag: str, body: bytes) -> bytes:
        """The gzip of `body`, compressed once per ETag (mtime 0: same bytes, same ETag)."""
        hit = self._data.get((key, fmt))
        if hit is not None and hit[0] == etag and hit[2] is not None:
            return hit[2]
        compressed = gzip.compress(body, compresslevel=6, mtime=0)
        self._set(key, fmt, (etag, body, compressed))  # stored again: its size now counts the gzip
        return compressed


def gzip_etag(etag: str) -> str:
    return etag[:-1] + '-gzip"'


def accepts_gzip(request: Request) -> bool:
    """RFC 9110 §12.5.3: gzip listed with a q-value above 0."""
    for part in request.headers.get("accept-encoding", "").split(","):
        coding, *params = (p.strip() for p in part.split(";"))
        if coding.lower() not in ("gzip", "x-gzip"):
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        return q > 0
    return False


def _not_modified(request: Request, etag: str, last_modified: str) -> bool:
    inm = request.headers.get("if-none-match")
    if inm is not None:  # RFC 9110 §13.1.2: If-None-Match wins over If-Modified-Since
        tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
        # Either representation's tag: both change together, so either proves freshness.
        return bool({"*", etag, gzip_etag(etag)} & tags)
    ims = request.headers.get("if-modified-since")
    if ims:
        try:
            return parsedate_to_datetime(last_modified) <= parsedate_to_datetime(ims)
        except (TypeError, ValueError):
            return False
    return False


def link_header(rt: Runtime, key: str, fmt: str) -> str:
    links = [f'<{hub}>; rel="hub"' for hub in rt.site.hubs]
    links.append(f'<{feed_url(rt.site.public_url, key, fmt)}>; rel="self"')
    return ", ".join(links)


async def serve_feed(request: Request) -> Response:
    """`/feeds/{key}.{rss,atom,json}`, the page `/feeds/{key}` and the index `/feeds/`."""
    rt: Runtime = request.app.state.runtime
    metrics = request.app.state.metrics
    path = request.path_params["feed"]
    # Keys are slugs: no percent-escapes, so an encoded slash or NUL cannot alias a feed.
    if b"%" in request.scope.get("raw_path", b""):
        return _not_found(metrics)
    if path == "":
        return await feed_index(request)
    key, dot, fmt = path.rpartition(".")
    if not dot and is_feed_key(path):
        return await feed_page(request, path)
    if not dot or fmt not in MEDIA_TYPES or not is_feed_key(key):
        return _not_found(metrics)
    try:
        representation = await _representation(request, rt, key, fmt)
    except redis.RedisError:
        return UNAVAILABLE
    if representation is None:
        return _not_found(metrics)
    etag, last_modified, size, body = representation
    await rt.reader().was_read(key)  # a feed with readers renders ahead of the long tail
    # HEAD answers with exactly the headers GET would: same encoding, same ETag, same length.
    use_gzip = accepts_gzip(request) and (size < 0 or size >= GZIP_MIN_BYTES)
    headers = {
        "ETag": gzip_etag(etag) if use_gzip else etag,
        "Last-Modified": last_modified,
        "Cache-Control": CACHE_CONTROL,
        "Link": link_header(rt, key, fmt),
        "Vary": "Accept-Encoding",
        **NOSNIFF,
    }
    if _not_modified(request, etag, last_modified):
        metrics.feed_requests.labels(status="304").inc()
        return Response(status_code=304, headers=headers)
    cache: BodyCache = request.app.state.body_cache
    if body is None and (request.method == "GET" or use_gzip or size < 0):
        body = cache.get(key, fmt, etag)
        if body is None:
            try:
                body = await rt.reader().body(key, fmt)
            except redis.RedisError:
                return UNAVAILABLE
            if body is None:
                return _not_found(metrics)
            cache.put(key, fmt, etag, body)
    if use_gzip and body is not None:
        body = cache.gzipped(key, fmt, etag, body)
        headers["Content-Encoding"] = "gzip"
    metrics.feed_requests.labels(status="200").inc()
    headers["Content-Length"] = str(len(body) if body is not None else size)
    if request.method == "HEAD":
        return Response(status_code=200, headers=headers, media_type=MEDIA_TYPES[fmt])
    return Response(body, status_code=200, headers=headers, media_type=MEDIA_TYPES[fmt])


def _not_found(metrics) -> Response:
    metrics.feed_requests.labels(status="404").inc()
    return NOT_FOUND


async def _representation(request: Request, rt: Runtime, key: str, fmt: str
                          ) -> tuple[str, str, int, bytes | None] | None:
    """(ETag, Last-Modified, size, body if already at hand) of one format. A known feed with
    nothing rendered yet (`all` and `audio` on a fresh install, any feed before its first
    render) is a valid empty feed; a key that never existed is None (404)."""
    meta = await rt.reader().meta(key, fmt)
    if meta is not None:
        etag, last_modified, size = meta
        return etag, last_modified, size, None
    known = key in (ALL, AUDIO) or await run_in_threadpool(rt.store.articles.is_feed, key)
    if not known:
        return None
    body = _empty_feed(request.app.state, rt, key, fmt)
    return etag_of(body), EMPTY_LAST_MODIFIED, len(body), body


def _empty_feed(state, rt: Runtime, key: str, fmt: str) -> bytes:
    empties = state.empty_feeds
    body = empties.get((key, fmt))
    if body is None:
        bodies = render(describe(key, rt.site, []), [], []).bodies()
        for name, data in bodies.items():
            empties[(key, name)] = data
        body = bodies[fmt]
    return body


def _feed_items(body: bytes | None) -> list[dict]:
    """The items of a feed, from its stored JSON Feed bytes."""
    if not body:
        return []
    try:
        return list(json.loads(body).get("items", []))
    except ValueError:
        return []


async def feed_page(request: Request, key: str) -> Response:
    """A page for people: what the feed is, how to subscribe, its newest items. No script,
    no XSLT: it works in any browser, and from a link a reader can share."""
    rt: Runtime = request.app.state.runtime
    try:
        representation = await _representation(request, rt, key, "json")
        if representation is None:
            return _not_found(request.app.state.metrics)
        body = representation[3] or await rt.reader().body(key, "json")
    except redis.RedisError:
        return UNAVAILABLE
    doc = json.loads(body) if body else {}
    formats = [(name, feed_url(rt.site.public_url, key, fmt))
               for fmt, name in (("rss", "RSS"), ("atom", "Atom"), ("json", "JSON Feed"))]
    return render_page("feed.html", title=doc.get("title") or key,
                       description=doc.get("description", ""), key=key, formats=formats,
                       items=_feed_items(body), site_url=rt.site.url, site_title=rt.site.title)


def _etag_matches(request: Request, etag: str) -> bool:
    inm = request.headers.get("if-none-match")
    if inm is None:
        return False
    return bool({"*", etag} & {t.strip().removeprefix("W/") for t in inm.split(",")})


def _page_number(raw: str | None) -> int | None:
    """`?page=`: absent is the first page; anything but a whole number from 1 is None (400)."""
    if raw is None:
        return 1
    return int(raw) if raw.isascii() and raw.isdigit() and raw[0] != "0" and len(raw) <= 6 \
        else None


@dataclass
class Snapshot:
    """The catalogue at one version: (key, title, item count) of every feed with items in key
    order, the OPML made from them, and the index pages made so far (bounded in bytes)."""

    version: tuple[int, str]
    rows: tuple[tuple[str, str, int], ...]
    opml: tuple[str, bytes]  # (ETag, bytes)
    built_at: float
    took: float
    pages: LRUCache[int, tuple[str, bytes]] = field(default_factory=lambda: LRUCache(
        PAGES_CACHE_BYTES, getsizeof=lambda entry: len(entry[1]) + ENTRY_OVERHEAD))

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
        a feed's title and item count."""
        store = self._rt.store
        return store.articles.feed_count(), repr(store.counters.totals().renders)

    def current(self) -> Snapshot:
        version = self.version()
        with self._lock:
            snap = self._snapshot
            if snap is not None and (snap.version == version or time.monotonic() - snap.built_at
                                     < CATALOGUE_DUTY * snap.took):
                return snap
            started = time.monotonic()
            rows = tuple((key, title, count) for key, (title, count) in _listing(self._rt).items())
            data = _opml_bytes(self._rt, rows)
            done = time.monotonic()
            self._snapshot = Snapshot(version, rows, (etag_of(data), data), done, done - started)
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


def _listing(rt: Runtime) -> dict[str, tuple[str, int]]:
    return rt.store.feeds.listing(rt.store.articles.feeds_with_items())


def _index_html(rt: Runtime, snap: Snapshot, number: int) -> bytes:
    start = (number - 1) * INDEX_PAGE_SIZE
    rows = [(key, title, count, feed_page_url(rt.site.public_url, key))
            for key, title, count in snap.rows[start:start + INDEX_PAGE_SIZE]]
    return bytes(render_page("feeds.html", title=f"{rt.site.title}: feeds", rows=rows,
                             opml=rt.site.public_url.rstrip("/") + "/feeds.opml", page=number,
                             pages=snap.page_count, total=len(snap.rows), first=start + 1,
                             last=start + len(rows), opml_max=OPML_MAX_FEEDS).body)


def _opml_order(row: tuple[str, str, int]) -> tuple[int, int, int, str]:
    """`all`, `audio`, the sections (the broadest first), then the feeds with the most items."""
    key, _, count = row
    if key == ALL:
        return (0, 0, 0, key)
    if key == AUDIO:
        return (1, 0, 0, key)
    if key.startswith("section/"):
        return (2, key.count("/"), 0, key)
    return (3, 0, -count, key)


def _opml_bytes(rt: Runtime, rows: tuple[tuple[str, str, int], ...]) -> bytes:
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
            ET.SubElement(body, "outline", type="rss", text=f"{title} ({name})",
                          title=f"{title} ({name})", xmlUrl=feed_url(rt.site.public_url, key, fmt),
                          htmlUrl=feed_page_url(rt.site.public_url, key))
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


async def feed_index(request: Request) -> Response:
    """`/feeds/?page=N`: every feed with items, its title and item count, 100 a page."""
    number = _page_number(request.query_params.get("page"))
    if number is None:
        return Response("page must be a whole number from 1\n", status_code=400,
                        media_type="text/plain", headers=NOSNIFF)
    try:
        _, page = await run_in_threadpool(request.app.state.catalogue.index_page, number)
    except redis.RedisError:
        return UNAVAILABLE
    if page is None:
        return Response("no such page\n", status_code=404, media_type="text/plain",
                        headers=NOSNIFF)
    etag, html = page
    headers = {**HTML_HEADERS, "Cache-Control": CACHE_CONTROL, "ETag": etag}
    if _etag_matches(request, etag):
        return Response(status_code=304, headers=headers)
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(html))
        return Response(status_code=200, headers=headers, media_type="text/html; charset=utf-8")
    return Response(html, headers=headers, media_type="text/html; charset=utf-8")


async def stylesheet(request: Request) -> Response:
    """The XSLT the feeds name, so a feed opened in a browser reads as a page."""
    return Response(STYLESHEET, media_type="text/xsl; charset=utf-8",
                    headers={"Cache-Control": "public, max-age=86400", **NOSNIFF})


async def opml(request: Request) -> Response:
    """The feeds with items (at most OPML_MAX_FEEDS), by title, in each of their three formats."""
    try:
        snap = await run_in_threadpool(request.app.state.catalogue.current)
    except redis.RedisError:
        return UNAVAILABLE
    etag, data = snap.opml
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL, **NOSNIFF}
    if _etag_matches(request, etag):
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=OPML_MEDIA_TYPE, headers=headers)
