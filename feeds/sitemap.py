"""Sitemaps as bytes, with lxml: the Google News sitemap and a plain sitemap of the feed pages.
No I/O: api/sitemaps.py reads the store and serves what these return.

- News (https://developers.google.com/search/docs/crawling-indexing/sitemaps/news-sitemap):
  a `urlset` with one `news:news` per article (publication name and language, the first
  publication as a W3C date-time, the title), newest first, at most 1,000; the caller passes the
  articles of the last two days. `news:language` as Google's XSD wants it (`news_language`).
- Feeds (sitemaps.org 0.9): one `url` per feed page, at most 50,000 URLs and 50 MB (the
  protocol's limits); what is left out is named in a comment.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from lxml import etree

from feeds.text import xml_safe

SITEMAP = "http://www.sitemaps.org/schemas/sitemap/0.9"
NEWS = "http://www.google.com/schemas/sitemap-news/0.9"
NEWS_MAX = 1_000  # news:news tags per sitemap
URLS_MAX = 50_000  # URLs per sitemap (sitemaps.org)
BYTES_MAX = 50 * 1_000_000  # uncompressed bytes per sitemap (sitemaps.org: 50 MB)
LOC_MIN, LOC_MAX = 12, 2_048  # the sitemap XSD's bounds on `loc`
TRADITIONAL = {"tw", "hk", "mo", "hant"}  # Chinese subtags meaning Traditional Chinese
_PRIMARY = re.compile(r"[a-z]{2,3}")


@dataclass(frozen=True)
class NewsItem:
    url: str
    title: str
    first_published: datetime
    language: str | None = None


def news_language(tag: str | None, fallback: str = "en") -> str:
    """A BCP 47 tag as Google News wants it: the primary subtag in lower case (`en-US` → `en`),
    Chinese as `zh-tw` (zh-TW, zh-Hant, zh-HK, zh-MO) or `zh-cn` (any other zh). A tag that
    has no usable primary subtag gives `fallback`'s mapping (and `und` if that has none)."""
    for candidate in (tag, fallback):
        parts = [p for p in re.split(r"[-_]", (candidate or "").strip().lower()) if p]
        if not parts or not _PRIMARY.fullmatch(parts[0]):
            continue
        if parts[0] in ("zh", "zho", "chi"):
            if "hans" in parts[1:2]:
                return "zh-cn"
            return "zh-tw" if TRADITIONAL & set(parts[1:]) else "zh-cn"
        return parts[0]
    return "und"


def w3c_time(when: datetime) -> str:
    """A W3C date-time with seconds and a zone: 2026-12-02T04:50:00Z."""
    return when.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def usable_loc(url: str) -> bool:
    return LOC_MIN <= len(url) <= LOC_MAX and url.startswith(("http://", "https://"))


def news_sitemap(items: Iterable[NewsItem], publication: str, site_language: str) -> bytes:
    """The news sitemap of `items` (at most NEWS_MAX, newest first, whatever order they come
    in). Items whose URL the sitemap schema would refuse are left out."""
    chosen = sorted(
        (i for i in items if usable_loc(i.url)), key=lambda i: i.first_published, reverse=True
    )[:NEWS_MAX]
    root = etree.Element(f"{{{SITEMAP}}}urlset", nsmap={None: SITEMAP, "news": NEWS})
    for item in chosen:
        url = etree.SubElement(root, f"{{{SITEMAP}}}url")
        etree.SubElement(url, f"{{{SITEMAP}}}loc").text = xml_safe(item.url)
        news = etree.SubElement(url, f"{{{NEWS}}}news")
        pub = etree.SubElement(news, f"{{{NEWS}}}publication")
        etree.SubElement(pub, f"{{{NEWS}}}name").text = xml_safe(publication)
        etree.SubElement(pub, f"{{{NEWS}}}language").text = news_language(
            item.language, site_language
        )
        etree.SubElement(news, f"{{{NEWS}}}publication_date").text = w3c_time(item.first_published)
        etree.SubElement(news, f"{{{NEWS}}}title").text = xml_safe(item.title)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def url_sitemap(urls: Sequence[str], total: int | None = None) -> bytes:
    """A plain sitemap of `urls` (in order; the first URLS_MAX that fit in BYTES_MAX). `total`
    is how many there were in all, named in a comment when some are left out."""
    root = etree.Element(f"{{{SITEMAP}}}urlset", nsmap={None: SITEMAP})
    size = 200  # the declaration, the root and a comment
    kept = 0
    for loc in urls:
        if kept >= URLS_MAX:
            break
        if not usable_loc(loc):
            continue
        size += len(loc.encode()) + 40
        if size > BYTES_MAX:
            break
        etree.SubElement(
            etree.SubElement(root, f"{{{SITEMAP}}}url"), f"{{{SITEMAP}}}loc"
        ).text = loc
        kept += 1
    total = len(urls) if total is None else total
    if total > kept:
        root.insert(0, etree.Comment(f" {kept} of {total} URLs "))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
