"""JSON Feed 1.1 writer (https://www.jsonfeed.org/version/1.1/): the same items as RSS and Atom.

feedgen has no JSON Feed writer, and the format is a plain dict, so this one is ours. Fields the
spec has no name for (image caption and credit, comment count, related links) go under the
`_syndicate` extension key, as the spec's §Extensions asks.
"""

from __future__ import annotations

import json
from typing import Any

from feeds.article import Article, format_time
from feeds.describe import FeedDescription, item_id
from feeds.reader import reader_html

VERSION = "https://jsonfeed.org/version/1.1"


def _item(article: Article) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": item_id(article.id),
        "url": article.url,
        "title": article.title,
        "date_published": format_time(article.published_at),
        "date_modified": format_time(article.modified_at),
    }
    item["content_html"] = reader_html(article)
    if article.summary:
        item["summary"] = article.summary
    if article.image is not None:
        item["image"] = article.image.url
    if article.language:
        item["language"] = article.language
    if article.authors:
        item["authors"] = [{k: v for k, v in (("name", a.name), ("url", a.url)) if v}
                           for a in article.authors]
    tags = [s.name for s in article.sections] + [t.name for t in article.tags]
    if tags:
        item["tags"] = list(dict.fromkeys(tags))
    if article.audio is not None:
        attachment: dict[str, Any] = {"url": article.audio.url, "mime_type": article.audio.type,
                                      "size_in_bytes": article.audio.length}
        if article.audio.duration is not None:
            attachment["duration_in_seconds"] = article.audio.duration
        item["attachments"] = [attachment]
    ext: dict[str, Any] = {}
    if article.image is not None and (article.image.caption or article.image.credit):
        ext["image"] = {k: v for k, v in (("caption", article.image.caption),
                                          ("credit", article.image.credit)) if v}
    if article.comments is not None:
        ext["comments"] = {k: v for k, v in (("count", article.comments.count),
                                             ("url", article.comments.url)) if v is not None}
    if article.related:
        ext["related"] = [{k: v for k, v in (("url", r.url), ("title", r.title)) if v}
                          for r in article.related]
    if ext:
        item["_syndicate"] = ext
    return item


def json_item(article: Article) -> str:
    """One item as JSON text, ready to splice into a document (see feeds.render)."""
    return json.dumps(_item(article), ensure_ascii=False, separators=(",", ":"))


def render_json(desc: FeedDescription, articles: list[Article],
                items: list[str] | None = None) -> bytes:
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
        items = [json_item(a) for a in articles]
    return (head[:-1] + ',"items":[' + ",".join(items) + "]}").encode("utf-8")
