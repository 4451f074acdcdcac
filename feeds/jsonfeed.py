"""JSON Feed 1.1 writer (https://www.jsonfeed.org/version/1.1/): the same items as RSS and Atom
(`feeds.item.Item`, written here as JSON Feed names them).

feedgen has no JSON Feed writer, and the format is a plain dict, so this one is ours. Fields the
spec has no name for (image caption and credit, comment count, related links) go under the
`_syndicate` extension key, as the spec's §Extensions asks.
"""

from __future__ import annotations

import json
from typing import Any

from feeds.article import Article, format_time
from feeds.describe import FeedDescription
from feeds.item import Item, item_of

VERSION = "https://jsonfeed.org/version/1.1"


def _item(item: Item) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": item.id,
        "url": item.link,
        "title": item.title,
        "date_published": format_time(item.published),
        "date_modified": format_time(item.updated),
        "content_html": item.content_html,
    }
    if item.summary:
        out["summary"] = item.summary
    if item.image is not None:
        out["image"] = item.image.url
    if item.language:
        out["language"] = item.language
    if item.authors:
        out["authors"] = [
            {k: v for k, v in (("name", a.name), ("url", a.url)) if v} for a in item.authors
        ]
    if item.categories:  # JSON Feed's tags are plain names: the labels, breadcrumb first
        out["tags"] = list(dict.fromkeys(c.label for c in item.categories))
    if item.enclosure is not None:
        audio = item.enclosure
        attachment: dict[str, Any] = {
            "url": audio.url,
            "mime_type": audio.type,
            "size_in_bytes": audio.length,
        }
        if audio.duration is not None:
            attachment["duration_in_seconds"] = audio.duration
        out["attachments"] = [attachment]
    ext = _extension(item)
    if ext:
        out["_syndicate"] = ext
    return out


def _extension(item: Item) -> dict[str, Any]:
    """What JSON Feed has no name for: image caption and credit, comments, related links."""
    ext: dict[str, Any] = {}
    if item.image is not None and (item.image.caption or item.image.credit):
        ext["image"] = {
            k: v for k, v in (("caption", item.image.caption), ("credit", item.image.credit)) if v
        }
    if item.comments is not None:
        ext["comments"] = {
            k: v
            for k, v in (("count", item.comments.count), ("url", item.comments.url))
            if v is not None
        }
    if item.related:
        ext["related"] = [
            {k: v for k, v in (("url", r.url), ("title", r.title)) if v} for r in item.related
        ]
    return ext


def json_item(item: Item) -> str:
    """One item as JSON text, ready to splice into a document (see feeds.render)."""
    return json.dumps(_item(item), ensure_ascii=False, separators=(",", ":"))


def render_json(
    desc: FeedDescription, articles: list[Article], items: list[str] | None = None
) -> bytes:
    """The JSON Feed document of one feed; `articles` newest first, as for the XML writers.
    `items`, if given, are those articles' `json_item` texts, already made."""
    doc: dict[str, Any] = {
        "version": VERSION,
        "title": desc.title,
        "home_page_url": desc.link,
        "feed_url": desc.self_urls["json"],
        "description": desc.subtitle,
        "language": desc.language,
        "authors": [{"name": desc.author}],
    }
    if desc.hubs:
        doc["hubs"] = [{"type": "WebSub", "url": hub} for hub in desc.hubs]
    head = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    if items is None:
        items = [json_item(item_of(a, desc.link)) for a in articles]
    return (head[:-1] + ',"items":[' + ",".join(items) + "]}").encode("utf-8")
