"""The HTML page of a feed, for people: what a feed is, how to subscribe (the three addresses,
whole, each with a copy button), and the feed's articles, 20 a page (`?page=N`), reaching past
what the feed itself shows back to its membership's cap. Images come with their caption, credit,
alt text (the caption: the contract has no alt field) and size; audio programmes play in an
`<audio controls preload="none">` player.

Served at `/feeds/{key}` and, to a browser (api/serving.py negotiates on `Accept`), at the feed's
own URLs `/feeds/{key}.{rss,atom,json}`: then with `Vary: Accept` and a strong ETag of the HTML
itself (never the feed's), so a cache keeps the two representations apart and each revalidates
with its own 304. The articles are read from the store (api/feedpage.py never reads feed bytes);
a browser's page costs two small reads and one HGET per article shown.
"""

from __future__ import annotations

import math
from typing import Any

import redis
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from api.feedhttp import BAD_PAGE, CACHE_CONTROL, UNAVAILABLE, etag_matches, page_number, text
from api.html import HEADERS as HTML_HEADERS
from api.html import render_page
from feeds.article import Article
from feeds.describe import describe, feed_url
from feeds.membership import ALL, AUDIO
from worker.runtime import Runtime
from worker.store.rendered import etag_of

PAGE_SIZE = 20
FORMATS = (("rss", "RSS"), ("atom", "Atom"), ("json", "JSON Feed"))
HTML_TYPE = "text/html; charset=utf-8"
VARY = "Accept, Accept-Encoding"

COPY_SCRIPT = (
    b"// The copy buttons of a feed page: the whole address to the clipboard, or selected for\n"
    b"// Ctrl+C where the clipboard is not allowed. Without this script the buttons stay hidden.\n"
    b"function selectText(el) {\n"
    b"  var range = document.createRange(); range.selectNodeContents(el);\n"
    b"  var sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range);\n"
    b"}\n"
    b"document.querySelectorAll('button[data-copy]').forEach(function (button) {\n"
    b"  var field = document.getElementById(button.getAttribute('data-copy'));\n"
    b"  if (!field) { return; }\n"
    b"  button.hidden = false;\n"
    b"  button.addEventListener('click', function () {\n"
    b"    var said = function (words) { button.textContent = words;\n"
    b"      setTimeout(function () { button.textContent = 'Copy'; }, 2500); };\n"
    b"    var fallback = function () { selectText(field); said('Press Ctrl+C'); };\n"
    b"    if (navigator.clipboard && window.isSecureContext) {\n"
    b"      navigator.clipboard.writeText(field.textContent.trim())\n"
    b"        .then(function () { said('Copied'); }, fallback);\n"
    b"    } else { fallback(); }\n"
    b"  });\n"
    b"});\n"
)


async def copy_script(request: Request) -> Response:
    return Response(
        COPY_SCRIPT,
        media_type="text/javascript; charset=utf-8",
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "public, max-age=3600"},
    )


AUDIO_KINDS = {
    "audio/mpeg": "MP3",
    "audio/mp4": "M4A",
    "audio/x-m4a": "M4A",
    "audio/aac": "AAC",
    "audio/ogg": "Ogg",
    "audio/opus": "Opus",
    "audio/wav": "WAV",
}


def _duration(seconds: int | None) -> str:
    if not seconds:
        return ""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _size(length: int) -> str:
    return f"{length / 1e6:.1f} MB" if length >= 100_000 else f"{max(1, length // 1000)} KB"


def card(article: Article) -> dict[str, Any]:
    """What the page shows of one article."""
    out: dict[str, Any] = {
        "title": article.title,
        "url": article.url,
        "summary": article.summary,
        "iso": article.published_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "date": article.published_at.strftime("%Y-%m-%d %H:%M UTC"),
        "authors": ", ".join(a.name for a in article.authors),
        "image": None,
        "audio": None,
    }
    image = article.image
    if image is not None:
        out["image"] = {
            "url": image.url,
            "alt": image.caption or "",
            "caption": image.caption,
            "credit": image.credit,
            "width": image.width,
            "height": image.height,
        }
    audio = article.audio
    if audio is not None:
        kind = AUDIO_KINDS.get(audio.type.lower(), audio.type)
        out["audio"] = {
            "url": audio.url,
            "type": audio.type,
            "duration": _duration(audio.duration),
            "about": f"{kind}, {_size(audio.length)}" if audio.length else kind,
        }
    return out


def _page(rt: Runtime, key: str, number: int, fmt: str | None) -> bytes | str:
    """The page's HTML, or why there is none ("no such feed", "no such page")."""
    articles = rt.store.articles
    if key not in (ALL, AUDIO) and not articles.is_feed(key):
        return "no such feed"
    total, shown = articles.page_of(key, (number - 1) * PAGE_SIZE, PAGE_SIZE)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    if number > pages:
        return "no such page"
    desc = describe(key, rt.site, shown)
    formats = [(f, name, feed_url(rt.site.public_url, key, f)) for f, name in FORMATS]
    opened = next((name for f, name in FORMATS if f == fmt), "")
    return bytes(
        render_page(
            "feed.html",
            title=desc.title,
            description=desc.subtitle,
            key=key,
            formats=formats,
            opened=opened,
            audio=key == AUDIO,
            items=[card(a) for a in shown],
            page=number,
            pages=pages,
            total=total,
            first=(number - 1) * PAGE_SIZE + 1,
            page_size=PAGE_SIZE,
            feed_size=rt.settings.feed_size,
            site_url=rt.site.url,
            site_title=rt.site.title,
        ).body
    )


async def feed_page(request: Request, key: str, fmt: str | None = None) -> Response:
    """`/feeds/{key}?page=N`, or a feed's URL asked for by a browser (`fmt` is then the format
    opened): 200 with a strong ETag of the HTML, 304 on If-None-Match."""
    number = page_number(request.query_params.get("page"))
    if number is None:
        return text(BAD_PAGE, 400)
    try:
        page = await run_in_threadpool(_page, request.app.state.runtime, key, number, fmt)
    except redis.RedisError:
        return UNAVAILABLE
    if isinstance(page, str):
        if page == "no such feed":
            request.app.state.metrics.feed_requests.labels(status="404").inc()
        return text(page, 404)
    etag = etag_of(page)
    headers = {**HTML_HEADERS, "Cache-Control": CACHE_CONTROL, "ETag": etag}
    if fmt is not None:
        headers["Vary"] = VARY
    if etag_matches(request, etag):
        return Response(status_code=304, headers=headers)
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(page))
        return Response(status_code=200, headers=headers, media_type=HTML_TYPE)
    return Response(page, headers=headers, media_type=HTML_TYPE)
