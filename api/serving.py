"""Feed serving: stored bytes, conditional GET, gzip, WebSub discovery headers. Never renders.

The body cache keeps the bytes of each feed's current ETag in memory (and their gzip, made once
per ETag), so a GET costs one small Redis read (the meta hash) and a HEAD or 304 never reads the
body at all. The gzip variant is a different representation, so it has its own strong ETag.
"""

from __future__ import annotations

import gzip
import json
from email.utils import format_datetime, parsedate_to_datetime
from importlib import resources
from xml.etree import ElementTree as ET

import redis
from cachetools import LRUCache
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

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
NOT_FOUND = Response("no such feed\n", status_code=404, media_type="text/plain")
EMPTY_LAST_MODIFIED = format_datetime(EPOCH, usegmt=True)
UNAVAILABLE = Response("store unavailable\n", status_code=503, media_type="text/plain",
                       headers={"Retry-After": "5"})


class BodyCache:
    """Feed bytes and their gzip by (key, format) for one ETag; a new ETag replaces the entry,
    and the least recently used entries go first (cachetools)."""

    def __init__(self, max_entries: int = 2000) -> None:
        self._data: LRUCache[tuple[str, str], list] = LRUCache(max_entries)

    def get(self, key: str, fmt: str, etag: str) -> bytes | None:
        hit = self._data.get((key, fmt))
        return hit[1] if hit and hit[0] == etag else None

    def put(self, key: str, fmt: str, etag: str, body: bytes) -> None:
        self._data[(key, fmt)] = [etag, body, None]

    def gzipped(self, key: str, fmt: str, etag: str, body: bytes) -> bytes:
        """The gzip of `body`, compressed once per ETag (mtime 0: same bytes, same ETag)."""
        hit = self._data.get((key, fmt))
        if hit is None or hit[0] != etag:
            self.put(key, fmt, etag, body)
            hit = self._data[(key, fmt)]
        if hit[2] is None:
            hit[2] = gzip.compress(body, compresslevel=6, mtime=0)
        return hit[2]


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
    # HEAD answers with exactly the headers GET would: same encoding, same ETag, same length.
    use_gzip = accepts_gzip(request) and (size < 0 or size >= GZIP_MIN_BYTES)
    headers = {
        "ETag": gzip_etag(etag) if use_gzip else etag,
        "Last-Modified": last_modified,
        "Cache-Control": CACHE_CONTROL,
        "Link": link_header(rt, key, fmt),
        "Vary": "Accept-Encoding",
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
    if (key, fmt) not in empties:
        bodies = render(describe(key, rt.site, []), [], []).bodies()
        for name, data in bodies.items():
            empties[(key, name)] = data
    return empties[(key, fmt)]


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


async def feed_index(request: Request) -> Response:
    """`/feeds/`: every feed with items, its title and item count."""
    rt: Runtime = request.app.state.runtime
    listing = await run_in_threadpool(_listing, rt)
    rows = [(key, title, count, feed_page_url(rt.site.public_url, key))
            for key, (title, count) in listing.items()]
    return render_page("feeds.html", title=f"{rt.site.title}: feeds", rows=rows,
                       opml=rt.site.public_url.rstrip("/") + "/feeds.opml")


def _listing(rt: Runtime) -> dict[str, tuple[str, int]]:
    return rt.store.feeds.listing(rt.store.articles.feeds_with_items())


async def stylesheet(request: Request) -> Response:
    """The XSLT the feeds name, so a feed opened in a browser reads as a page."""
    return Response(STYLESHEET, media_type="text/xsl; charset=utf-8",
                    headers={"Cache-Control": "public, max-age=86400"})


async def opml(request: Request) -> Response:
    """Every feed with items, by title, in each of its three formats."""
    rt: Runtime = request.app.state.runtime
    listing = await run_in_threadpool(_listing, rt)
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = f"{rt.site.title} feeds"
    body = ET.SubElement(root, "body")
    for key, (title, _) in listing.items():
        for fmt, name in (("rss", "RSS"), ("atom", "Atom"), ("json", "JSON Feed")):
            ET.SubElement(body, "outline", type="rss", text=f"{title} ({name})",
                          title=f"{title} ({name})", xmlUrl=feed_url(rt.site.public_url, key, fmt),
                          htmlUrl=feed_page_url(rt.site.public_url, key))
    data = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return Response(data, media_type="text/x-opml; charset=utf-8")
