"""The article as every reader shows it: one HTML body with the lead image as a `<figure>`
(caption and credit in its `<figcaption>`), the body (or the summary), and the related links.

Media RSS carries the image too, but many readers (newsboat, most web readers) show only the
content; this is what they show. Everything here was sanitized at intake; the caption, credit
and titles are plain text and are escaped.
"""

from __future__ import annotations

from html import escape

from feeds.article import Article


def reader_html(article: Article) -> str:
    parts = []
    image = article.image
    if image is not None:
        alt = escape(image.caption or article.title, quote=True)
        size = (f' width="{image.width}" height="{image.height}"'
                if image.width and image.height else "")
        caption = " ".join(escape(x) for x in (image.caption,
                                                f"({image.credit})" if image.credit else None)
                           if x)
        parts.append(f'<figure><img src="{escape(image.url, quote=True)}" alt="{alt}"{size}>'
                     + (f"<figcaption>{caption}</figcaption>" if caption else "") + "</figure>")
    parts.append(article.body_html or article.summary or f"<p>{escape(article.title)}</p>")
    if article.related:
        links = "".join(f'<li><a href="{escape(r.url, quote=True)}">{escape(r.title or r.url)}'
                        f"</a></li>" for r in article.related)
        parts.append(f"<h3>Related</h3><ul>{links}</ul>")
    return "".join(parts)
