"""One neutral item per article: what every format says of it, decided once.

As in Django's syndication framework (`Feed.item_*` → `SyndicationFeed.add_item`), the writers
(RSS and Atom through feedgen and `feeds.extensions`, JSON Feed in `feeds.jsonfeed`, and the
formats to come: fediverse objects, news sitemap entries) only write an `Item`; none of them
picks fields from the article. A field a format has no place for is left out by its writer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from feeds.article import Article, Audio, Comments, Image, Related
from feeds.content import content_html
from feeds.describe import item_id
from feeds.membership import feed_slug


@dataclass(frozen=True)
class Person:
    name: str
    url: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class Category:
    term: str  # the feed slug under its scheme: `news/lithuania`, `nato`
    label: str  # what a person reads: `Lithuania`, `NATO`
    scheme: str  # `{site}/section/` or `{site}/tag/`


@dataclass(frozen=True)
class Item:
    id: str  # `urn:uuid:`, from the article id alone
    link: str
    title: str
    published: datetime
    updated: datetime
    summary: str  # HTML, may be empty
    content_html: str  # the figure, the body (or an excerpt) and the related links
    language: str | None
    authors: tuple[Person, ...]
    categories: tuple[Category, ...]  # the section breadcrumb, every level, then the tags
    image: Image | None  # the lead image, with its caption and credit
    enclosure: Audio | None  # an audio programme
    comments: Comments | None
    related: tuple[Related, ...]


def item_of(article: Article, site_link: str) -> Item:
    """The item of an article on a site whose home page is `site_link`."""
    return Item(
        id=item_id(article.id),
        link=article.url,
        title=article.title,
        published=article.published_at,
        updated=article.modified_at,
        summary=article.summary,
        content_html=content_html(article),
        language=article.language,
        authors=tuple(Person(a.name, a.url, a.email) for a in article.authors),
        categories=categories(article, site_link),
        image=article.image,
        enclosure=article.audio,
        comments=article.comments,
        related=article.related,
    )


def categories(article: Article, site_link: str) -> tuple[Category, ...]:
    """Every level of the section breadcrumb (`news`, `news/lithuania`), then the tags; each
    term is the slug of the feed it names, under a scheme of the site's."""
    base = site_link.rstrip("/")
    out = []
    trail: list[str] = []
    for section in article.sections:
        trail.append(feed_slug(section))
        out.append(Category("/".join(trail), section.name, f"{base}/section/"))
    out += [Category(feed_slug(tag), tag.name, f"{base}/tag/") for tag in article.tags]
    return tuple(out)
