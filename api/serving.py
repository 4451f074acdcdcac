"""Feed serving: stored bytes, conditional GET, gzip, WebSub discovery headers. Never renders.

The body cache keeps the bytes of each feed's current ETag in memory (and their gzip, made once
per ETag), so a GET costs one small Redis read (the meta hash) and a HEAD or 304 never reads the
body at all. The gzip variant is a different representation, so it has its own strong ETag.
"""

from __future__ import annotations

import gzip
from email.utils import parsedate_to_datetime
from importlib import resources
from xml.etree import ElementTree as ET

import redis
from cachetools import LRUCache
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from feeds.describe import feed_url
from feeds.membership import is_feed_key
from worker.runtime import Runtime

MEDIA_TYPES = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
}
CACHE_CONTROL = "public, max-age=60"
STYLESHEET = resources.files("feeds").joinpath("style.xsl").read_bytes()
GZIP_MIN_BYTES = 512  # below this, the gzip header costs more than it saves
NOT_FOUND = Response("no such feed\n", status_code=404, media_type="text/plain")
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
    rt: Runtime = request.app.state.runtime
    metrics = request.app.state.metrics
    path = request.path_params["feed"]
    key, dot, fmt = path.rpartition(".")
    # Keys are slugs: no percent-escapes, so an encoded slash or NUL cannot alias a feed.
    encoded = b"%" in request.scope.get("raw_path", b"")
    if encoded or not dot or fmt not in MEDIA_TYPES or not is_feed_key(key):
        metrics.feed_requests.labels(status="404").inc()
        return NOT_FOUND
    try:
        meta = await rt.reader().meta(key, fmt)
    except redis.RedisError:
        return UNAVAILABLE
    if meta is None:
        metrics.feed_requests.labels(status="404").inc()
        return NOT_FOUND
    etag, last_modified, size = meta
    # HEAD describes the identity representation: its length is known without the body.
    use_gzip = (request.method == "GET" and accepts_gzip(request)
                and (size < 0 or size >= GZIP_MIN_BYTES))
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
    body = cache.get(key, fmt, etag)
    if body is None and request.method != "HEAD":
        try:
            body = await rt.reader().body(key, fmt)
        except redis.RedisError:
            return UNAVAILABLE
        if body is None:
            return NOT_FOUND
        cache.put(key, fmt, etag, body)
    metrics.feed_requests.labels(status="200").inc()
    if request.method == "HEAD":
        if size >= 0:
            headers["Content-Length"] = str(size)
        return _head(headers, MEDIA_TYPES[fmt])
    if use_gzip:
        body = cache.gzipped(key, fmt, etag, body)
        headers["Content-Encoding"] = "gzip"
    return Response(body, status_code=200, headers=headers, media_type=MEDIA_TYPES[fmt])


def _head(headers: dict[str, str], media_type: str) -> Response:
    response = Response(status_code=200, headers=headers, media_type=media_type)
    if "Content-Length" not in headers:  # unknown without reading the body: say nothing
        del response.headers["content-length"]
    return response


async def stylesheet(request: Request) -> Response:
    """The XSLT the feeds name, so a feed opened in a browser reads as a page."""
    return Response(STYLESHEET, media_type="text/xsl; charset=utf-8",
                    headers={"Cache-Control": "public, max-age=86400"})


async def opml(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    keys_ = await run_in_threadpool(rt.store.articles.feeds_with_items)
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = f"{rt.site.title} feeds"
    body = ET.SubElement(root, "body")
    for key in keys_:
        for fmt in ("rss", "atom"):
            ET.SubElement(body, "outline", type="rss", text=f"{key} ({fmt})", title=f"{key} ({fmt})",
                          xmlUrl=feed_url(rt.site.public_url, key, fmt), htmlUrl=rt.site.url)
    data = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return Response(data, media_type="text/x-opml; charset=utf-8")
