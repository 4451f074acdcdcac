"""Feed serving: stored bytes, conditional GET, gzip, WebSub discovery headers. It renders no
article: a known feed before its first render is served empty (that empty feed made once).

The body cache keeps the bytes of each feed's current ETag in memory (and their gzip, made once
per ETag), so a GET costs one small Redis read (the meta hash) and a HEAD or 304 never reads the
body at all. The gzip variant is a different representation, so it has its own strong ETag. The
cache is bounded in bytes (SYNDICATE_BODY_CACHE_MB, gzip copies included), not in entries.

A feed URL has a second representation: its HTML page (api/feedpage.py), for a browser, whose
`Accept` prefers `text/html` to every feed type (q-values honoured, the most specific range
wins; a tie, `*/*` or no `Accept` at all is a feed reader's, and gets the bytes). Browsers show
`application/rss+xml` as a wall of text (Chromium) or download it, and XSLT is on its way out,
so a person who clicks a feed link reads what a feed is and how to subscribe, while readers,
hubs and caches get the exact bytes and ETags. Both carry `Vary: Accept, Accept-Encoding`;
the page has its own strong ETag, so a 304 never crosses representations. nginx
(deploy/nginx.conf) serves the exported files unless `Accept` starts with `text/html`, and
leaves those requests to this module.

A hand-typed key in capitals (`/feeds/tag/NATO.rss`) is answered with a 301 to the slug's own
path (`/feeds/tag/nato.rss`) when that feed exists: a path of ours, never another host.
The index and the OPML are api/catalogue.py's.
"""

from __future__ import annotations

import gzip
from email.utils import format_datetime, parsedate_to_datetime
from importlib import resources

import redis
from cachetools import LRUCache
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from api import catalogue, feedpage
from api.feedhttp import CACHE_CONTROL, NOSNIFF, UNAVAILABLE, text
from feeds.describe import describe, feed_url
from feeds.membership import ALL, AUDIO, is_feed_key
from feeds.render import EPOCH, render
from feeds.text import slugify
from worker.runtime import Runtime
from worker.store.rendered import etag_of

__all__ = ["CACHE_CONTROL", "NOSNIFF", "UNAVAILABLE", "BodyCache", "serve_feed", "stylesheet"]

MEDIA_TYPES = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
}
STYLESHEET = resources.files("feeds").joinpath("style.xsl").read_bytes()
GZIP_MIN_BYTES = 512  # below this, the gzip header costs more than it saves
NOT_FOUND = text("no such feed", 404)
EMPTY_LAST_MODIFIED = format_datetime(EPOCH, usegmt=True)
EMPTY_FEEDS_BYTES = 2 * 2**20  # the in-memory empty feeds (a few KB each)
ENTRY_OVERHEAD = 256  # what an entry costs beyond its bytes (key, tuple), so tiny ones count too
VARY = "Accept, Accept-Encoding"
# What a feed reader may ask for: any of these (or a range covering one) counts for the feed.
FEED_TYPES = (
    "application/rss+xml",
    "application/atom+xml",
    "application/rdf+xml",
    "application/feed+json",
    "application/json",
    "application/xml",
    "text/xml",
)
HTML_TYPES = ("text/html", "application/xhtml+xml")
ACCEPT_MAX_CHARS = 2048
ACCEPT_MAX_RANGES = 40


def _entry_size(entry: tuple[str, bytes, bytes | None]) -> int:
    return len(entry[1]) + len(entry[2] or b"") + ENTRY_OVERHEAD


class BodyCache:
    """Feed bytes and their gzip by (key, format) for one ETag; a new ETag replaces the entry,
    and the least recently used entries go first (cachetools), so that the bytes held, gzip
    included, stay under `max_bytes`. A body larger than the whole cache is not kept."""

    def __init__(self, max_bytes: int = 64 * 2**20) -> None:
        self._data: LRUCache[tuple[str, str], tuple[str, bytes, bytes | None]] = LRUCache(
            max_bytes, getsizeof=_entry_size
        )

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


def weighted(header: str) -> list[tuple[str, float]]:
    """RFC 9110 §12.4.2: a content-negotiation header as (token, q) pairs, bounded (the first
    ACCEPT_MAX_RANGES of its first ACCEPT_MAX_CHARS characters); no q is 1, a bad q is 0."""
    out = []
    for part in header[:ACCEPT_MAX_CHARS].split(",")[:ACCEPT_MAX_RANGES]:
        token, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    q = 0.0
        out.append((token.lower(), q))
    return out


def accepts_gzip(request: Request) -> bool:
    """RFC 9110 §12.5.3: gzip listed with a q-value above 0."""
    for coding, q in weighted(request.headers.get("accept-encoding", "")):
        if coding in ("gzip", "x-gzip"):
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


def _not_found(metrics) -> Response:
    metrics.feed_requests.labels(status="404").inc()
    return NOT_FOUND


async def _representation(
    request: Request, rt: Runtime, key: str, fmt: str
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


def _accept_ranges(header: str) -> dict[str, float]:
    """`Accept` as {media range: q}, bounded (the first ACCEPT_MAX_RANGES ranges of the first
    ACCEPT_MAX_CHARS characters); a range without a valid q has q=1, a bad q counts as 0."""
    ranges: dict[str, float] = {}
    for media, q in weighted(header):
        if "/" in media:
            ranges[media] = max(q, ranges.get(media, 0.0))
    return ranges


def _quality(ranges: dict[str, float], media: str) -> float:
    """RFC 9110 §12.5.1: the q of the most specific range that matches `media`."""
    for candidate in (media, media.split("/")[0] + "/*", "*/*"):
        if candidate in ranges:
            return ranges[candidate]
    return 0.0


def prefers_html(request: Request) -> bool:
    """True when `Accept` ranks an HTML type above every feed type (a browser); a tie, `*/*` or
    no `Accept` is a reader's."""
    header = request.headers.get("accept")
    if not header or "html" not in header.lower():
        return False
    ranges = _accept_ranges(header)
    html = max(_quality(ranges, media) for media in HTML_TYPES)
    return html > 0 and html > max(_quality(ranges, media) for media in FEED_TYPES)


def slug_key(path: str) -> str | None:
    """The feed key a hand-typed path means (`tag/NATO` -> `tag/nato`: each part as a name's
    slug is made), if it is a valid key; None otherwise."""
    if len(path) > 1200:
        return None
    kind, _, rest = path.partition("/")
    key = "/".join([kind.lower(), *(slugify(p) for p in rest.split("/"))]) if rest else kind.lower()
    return key if is_feed_key(key) else None


async def _redirect_to_slug(rt: Runtime, key: str, typed_fmt: str) -> Response | None:
    """301 to the slug's own path when the key (or format) was typed otherwise and that feed
    exists."""
    target, fmt = slug_key(key), typed_fmt.lower()
    if target is None or (target, fmt) == (key, typed_fmt) or fmt not in (*MEDIA_TYPES, ""):
        return None
    known = target in (ALL, AUDIO) or await run_in_threadpool(rt.store.articles.is_feed, target)
    if not known:
        return None
    location = f"/feeds/{target}" + (f".{fmt}" if fmt else "")  # a path of ours, no host
    return Response(
        status_code=301, headers={"Location": location, "Cache-Control": CACHE_CONTROL, **NOSNIFF}
    )


async def serve_feed(request: Request) -> Response:
    """`/feeds/{key}.{rss,atom,json}` (the bytes, or the page for a browser), the page
    `/feeds/{key}` and the index `/feeds/`."""
    rt: Runtime = request.app.state.runtime
    metrics = request.app.state.metrics
    path = request.path_params["feed"]
    # Keys are slugs: no percent-escapes, so an encoded slash or NUL cannot alias a feed.
    if b"%" in request.scope.get("raw_path", b""):
        return _not_found(metrics)
    if path == "":
        return await catalogue.feed_index(request)
    key, dot, fmt = path.rpartition(".")
    if not dot:
        key, fmt = path, ""
    if not is_feed_key(key) or fmt != fmt.lower():
        try:
            moved = await _redirect_to_slug(rt, key, fmt)
        except redis.RedisError:
            return UNAVAILABLE
        return moved or _not_found(metrics)
    if not dot:
        return await feedpage.feed_page(request, key)
    if fmt not in MEDIA_TYPES:
        return _not_found(metrics)
    if prefers_html(request):
        return await feedpage.feed_page(request, key, fmt)
    return await feed_bytes(request, rt, key, fmt)


async def feed_bytes(request: Request, rt: Runtime, key: str, fmt: str) -> Response:
    """The stored bytes of one format: ETag, Last-Modified, 304, gzip, HEAD."""
    metrics = request.app.state.metrics
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
        "Vary": VARY,
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


async def stylesheet(request: Request) -> Response:
    """The XSLT the feeds name (for browsers that still run it; the others get the page)."""
    return Response(
        STYLESHEET,
        media_type="text/xsl; charset=utf-8",
        headers={"Cache-Control": "public, max-age=86400", **NOSNIFF},
    )
