"""The article as every reader shows it: one HTML body with the lead image as a `<figure>`
(caption and credit in its `<figcaption>`), the body (or the summary), and the related links.

Media RSS carries the image too, but many readers (newsboat, most web readers) show only the
content; this is what they show. Everything here was sanitized at intake; the caption, credit
and titles are plain text and are escaped.
"""

from __future__ import annotations

from html import escape

from feeds.article import Article
from feeds.text import clean_html

# A body larger than this goes into feeds as an excerpt (its first part, closed properly, and a
# link to the story), as WordPress does: one huge article would otherwise be copied whole into
# every format of every feed it is in (a 507 KB body in 56 feeds once cost 186 MB of Redis).
BODY_MAX_BYTES = 48 * 1024
# What an excerpt keeps of the body, leaving room for the figure, links and markup.
EXCERPT_BYTES = 16 * 1024


def body_for_feeds(article: Article) -> str:
    """The body as feeds carry it: whole, or an excerpt with a link when it is too large."""
    body = article.body_html or article.summary or f"<p>{escape(article.title)}</p>"
    if len(body.encode()) <= BODY_MAX_BYTES:
        return body
    cut = body.encode()[:EXCERPT_BYTES].decode("utf-8", "ignore")
    cut = cut[: cut.rfind("<")] if cut.rfind("<") > cut.rfind(">") else cut  # no half tag
    # The sanitizer parses the cut HTML as a browser would and closes what was left open.
    excerpt = clean_html(cut, len(cut))
    return f'{excerpt}<p><a href="{escape(article.url, quote=True)}">Continue reading…</a></p>'


def content_html(article: Article) -> str:
    parts = []
    image = article.image
    if image is not None:
        alt = escape(image.caption or article.title, quote=True)
        size = (
            f' width="{image.width}" height="{image.height}"'
            if image.width and image.height
            else ""
        )
        caption = " ".join(
            escape(x) for x in (image.caption, f"({image.credit})" if image.credit else None) if x
        )
        parts.append(
            f'<figure><img src="{escape(image.url, quote=True)}" alt="{alt}"{size}>'
            + (f"<figcaption>{caption}</figcaption>" if caption else "")
            + "</figure>"
        )
    parts.append(body_for_feeds(article))
    if article.related:
        links = "".join(
            f'<li><a href="{escape(r.url, quote=True)}">{escape(r.title or r.url)}</a></li>'
            for r in article.related
        )
        parts.append(f"<h3>Related</h3><ul>{links}</ul>")
    return "".join(parts)
