"""Writers: a `FeedDescription` plus its articles in, RSS 2.0, Atom 1.0 (feedgen) and JSON Feed
1.1 (`feeds.jsonfeed`) bytes out.

Rendering is deterministic: the same articles give the same bytes (dates come from the
articles, never from the clock), so an unchanged feed keeps its ETag and pings no hub.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from cachetools import LRUCache
from feedgen.feed import FeedGenerator
from lxml import etree

from feeds.article import Article
from feeds.describe import FeedDescription, Podcast, feed_id, item_id
from feeds.extensions import NAMESPACE, EntryExtension, FeedExtension
from feeds.item import Item, item_of
from feeds.jsonfeed import json_item, render_json

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
PODCAST_GUID_NAMESPACE = uuid.UUID("ead4c236-bf58-58c6-a2c6-a6b28d128cb6")
GENERATOR = "syndicate"


@dataclass(frozen=True)
class RenderedFeed:
    rss: bytes
    atom: bytes
    json: bytes
    updated: datetime  # newest change among the feed's own items (and retractions)
    skipped: tuple[tuple[str, str], ...] = ()  # (article id, reason) of items that failed to write
    written: tuple[str, ...] = ()  # the ids of the articles whose items are in the bytes

    def bodies(self) -> dict[str, bytes]:
        return {"rss": self.rss, "atom": self.atom, "json": self.json}


def stylesheet_href(key: str) -> str:
    """Relative, so the stylesheet stays same-origin (browsers insist) behind any proxy prefix."""
    return "../" * key.count("/") + "style.xsl"


def _with_stylesheet(xml: bytes, key: str) -> bytes:
    declaration, newline, rest = xml.partition(b"?>")
    pi = f'<?xml-stylesheet type="text/xsl" href="{stylesheet_href(key)}"?>'.encode()
    return declaration + newline + b"\n" + pi + b"\n" + rest.lstrip()


def _generator(
    desc: FeedDescription,
    articles: list[Article],
    deleted: list[tuple[str, datetime]],
    updated: datetime,
) -> FeedGenerator:
    """The feed's channel-level description, with no entries yet."""
    fg = FeedGenerator()
    fg.register_extension(NAMESPACE, FeedExtension, EntryExtension)
    ext: FeedExtension = getattr(fg, NAMESPACE)
    ext.hubs = desc.hubs
    ext.deleted = [(item_id(article_id), when) for article_id, when in deleted]
    if desc.is_podcast:
        p = desc.podcast or Podcast()
        # Apple wants square artwork: the configured one, else a square lead image.
        image = p.image or next(
            (
                a.image.url
                for a in articles
                if a.image and a.image.width and a.image.width == a.image.height
            ),
            None,
        )
        ext.podcast = {
            "author": desc.author,
            "summary": desc.subtitle,
            "image": image,
            "owner_name": p.owner_name,
            "owner_email": p.owner_email,
            "category": p.category,
            "explicit": p.explicit,
            "podping": p.podping,
            "guid": podcast_guid(desc.self_urls["rss"]),
        }
    fg.id(feed_id(desc.key))
    fg.title(desc.title)
    fg.subtitle(desc.subtitle)  # also the RSS description
    fg.language(desc.language)
    fg.author({"name": desc.author})
    fg.generator(GENERATOR)
    fg.updated(updated)
    fg.lastBuildDate(updated)
    fg.ttl(15)
    return fg


def _write(fg: FeedGenerator, desc: FeedDescription, fmt: str) -> bytes:
    mime = "application/rss+xml" if fmt == "rss" else "application/atom+xml"
    # Each format has its own self URL (WebSub §4.1); feedgen's RSS <link> is the last link
    # added, so the site link goes last.
    links = [{"href": hub, "rel": "hub"} for hub in desc.hubs]
    links.append({"href": desc.self_urls[fmt], "rel": "self", "type": mime})
    links.append({"href": desc.page or desc.link, "rel": "alternate", "type": "text/html"})
    fg.link(links, replace=True)
    if fmt == "atom":
        return fg.atom_str(pretty=False, xml_declaration=True, encoding="UTF-8")
    return hex_refs(fg.rss_str(pretty=False, xml_declaration=True, encoding="UTF-8"))


def hex_refs(xml: bytes) -> bytes:
    """`&` and `<` in text as hexadecimal character references, as the RSS Best Practices
    Profile asks of RSS (the same characters to any XML parser; feedgen writes no CDATA)."""
    return xml.replace(b"&amp;", b"&#x26;").replace(b"&lt;", b"&#x3C;")


def podcast_guid(feed_url: str) -> str:
    """Podcasting 2.0 `podcast:guid`: UUIDv5 of the feed URL without scheme and trailing slashes."""
    bare = feed_url.split("://", 1)[-1].rstrip("/")
    return str(uuid.uuid5(PODCAST_GUID_NAMESPACE, bare))


def _updated(articles: list[Article], deleted: list[tuple[str, datetime]]) -> datetime:
    return max([a.modified_at for a in articles] + [when for _, when in deleted], default=EPOCH)


def render_whole(
    desc: FeedDescription,
    articles: list[Article],
    deleted: list[tuple[str, datetime]] | None = None,
) -> RenderedFeed:
    """Every item written afresh by feedgen: what a render-on-request framework does.

    `render` gives the same feed from cached item fragments; this is its reference (tests) and
    the benchmark's baseline.
    """
    deleted = deleted or []
    updated = _updated(articles, deleted)
    fg = _generator(desc, articles, deleted, updated)
    for article in articles:
        _add_entry(fg, item_of(article, desc.link), desc)
    out = {fmt: _with_stylesheet(_write(fg, desc, fmt), desc.key) for fmt in ("rss", "atom")}
    return RenderedFeed(
        rss=out["rss"], atom=out["atom"], json=render_json(desc, articles), updated=updated
    )


# Item fragments --------------------------------------------------------------------------------
# An article's item looks the same in every feed it is in (only the podcast feed adds iTunes
# tags), so each (article, podcast?, site) is written by feedgen once and its bytes are reused
# until the article changes: a burst that touches `all`, two sections, three tags and an author
# writes the new item once, not seven times, and the other 49 items of each feed not at all.
FRAGMENT_CACHE_SIZE = 5_000
# The items of one feed, in each format, stop at this many bytes (the newest item is always
# written): with bodies capped (feeds.content.BODY_MAX_BYTES), a feed of long reads stays a few
# MB at most, in Redis, the export and every reader's download.
FEED_ITEMS_MAX_BYTES = 1024 * 1024
_FRAGMENTS: LRUCache[tuple, tuple[bytes, bytes, str]] = LRUCache(FRAGMENT_CACHE_SIZE)
_MARKERS = {"rss": (b"<item>", b"</item>"), "atom": (b"<entry>", b"</entry>")}


def _fragment(article: Article, desc: FeedDescription) -> tuple[bytes, bytes, str]:
    """(RSS item, Atom entry, JSON Feed item) of one article, from the cache or written now."""
    key = (article.fingerprint, desc.is_podcast, desc.link)
    hit = _FRAGMENTS.get(key)
    if hit is not None:
        return hit
    item = item_of(article, desc.link)
    fg = _generator(desc, [article], [], article.modified_at)
    _add_entry(fg, item, desc)
    parts: list[bytes] = []
    for fmt in ("rss", "atom"):
        data = _write(fg, desc, fmt)
        start_tag, end_tag = _MARKERS[fmt]
        # Namespaces are declared on the root, so the element is these bytes exactly; if a
        # writer ever declared one on the element itself, the start tag would not match.
        start, end = data.find(start_tag), data.rfind(end_tag)
        if start < 0 or end < 0:
            raise RuntimeError(f"unexpected {fmt} item serialization")
        parts.append(data[start : end + len(end_tag)])
    fragment = (parts[0], parts[1], json_item(item))
    _FRAGMENTS[key] = fragment
    return fragment


def render(
    desc: FeedDescription,
    articles: list[Article],
    deleted: list[tuple[str, datetime]] | None = None,
) -> RenderedFeed:
    """Every format of one feed; `articles` newest first, `deleted` as (article id, when).

    The channel is written by feedgen each time (it is small); the items are spliced in from
    `_fragment`, so the cost of a render is the cost of the items that changed.
    """
    deleted = deleted or []
    # One article that cannot be written loses its own item, never the feed: the others
    # (and the retraction of that one) must still reach readers.
    fragments: list[tuple[bytes, bytes, str]] = []
    kept: list[Article] = []
    skipped: list[tuple[str, str]] = []
    size = 0
    for article in articles:
        try:
            fragment = _fragment(article, desc)
        except Exception as exc:  # noqa: BLE001 - any writer failure is the item's alone
            skipped.append((article.id, f"{type(exc).__name__}: {exc}"[:300]))
            continue
        size += max(len(fragment[0]), len(fragment[1]), len(fragment[2]))
        if kept and size > FEED_ITEMS_MAX_BYTES:
            break  # older items wait below the budget line; nothing is lost from the store
        fragments.append(fragment)
        kept.append(article)
    articles = kept
    updated = _updated(articles, deleted)
    fg = _generator(desc, articles, deleted, updated)
    out: dict[str, bytes] = {}
    for n, (fmt, close) in enumerate((("rss", b"</channel>"), ("atom", b"</feed>"))):
        shell = _write(fg, desc, fmt)
        at = shell.rfind(close)
        items = b"".join(f[0] if n == 0 else f[1] for f in fragments)
        out[fmt] = _with_stylesheet(shell[:at] + items + shell[at:], desc.key)
    json_body = render_json(desc, articles, [f[2] for f in fragments])
    return RenderedFeed(
        rss=out["rss"],
        atom=out["atom"],
        json=json_body,
        updated=updated,
        skipped=tuple(skipped),
        written=tuple(a.id for a in articles),
    )


_ATOM = "{http://www.w3.org/2005/Atom}"
_SAFE_XML = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


def item_ids(fmt: str, body: bytes) -> set[str]:
    """The ids of the items in one rendered feed, read back as a reader would (what a takedown
    checks); retractions (RFC 6721 deleted entries) are not items. Unreadable bytes give an
    empty set."""
    try:
        if fmt == "json":
            return {str(item.get("id")) for item in json.loads(body).get("items", [])}
        root = etree.fromstring(body, _SAFE_XML)
    except (ValueError, etree.XMLSyntaxError, AttributeError):
        return set()
    if fmt == "atom":
        return {e.text or "" for e in root.iterfind(f"{_ATOM}entry/{_ATOM}id")}
    return {e.text or "" for e in root.iterfind("channel/item/guid")}


def _add_entry(fg: FeedGenerator, item: Item, desc: FeedDescription) -> None:
    """Write one item with feedgen (and `feeds.extensions` for what feedgen lacks)."""
    fe = fg.add_entry(order="append")  # feedgen prepends by default; callers pass newest first
    ext: EntryExtension = getattr(fe, NAMESPACE)
    ext.item = item
    ext.podcast = desc.is_podcast
    fe.id(item.id)
    fe.guid(item.id, permalink=False)
    fe.title(item.title)
    fe.link(href=item.link)  # no rel: Atom's default alternate, RSS <link>
    fe.published(item.published)
    fe.updated(item.updated)
    if item.summary:
        fe.summary(item.summary, type="html")
    fe.content(item.content_html, type="html")
    for author in item.authors:
        fe.author(
            {"name": author.name, "uri": author.url, "email": author.email}
            if author.email or author.url
            else {"name": author.name}
        )
    if item.comments is not None and item.comments.url:
        fe.comments(item.comments.url)
