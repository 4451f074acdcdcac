"""What a feed is (title, links, who it is about), apart from how a format writes it.

Like Django's `Feed` classes: a `FeedDescription` is computed from the feed key, the site and the
articles in it; `feeds.render` turns one into RSS and Atom bytes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from urllib.parse import quote

from feeds.article import Article
from feeds.membership import ALL, AUDIO, feed_slug

# Item ids derive from the article id alone: moving the site or an article's URL keeps them.
_ITEM_NAMESPACE = uuid.UUID("5b0c1a4e-6f1d-4f0e-9a57-2f1b0e0d5a11")

FORMATS = ("rss", "atom", "json")


@dataclass(frozen=True)
class Podcast:
    """What the audio feed says of itself to podcast apps (SYNDICATE_PODCAST_*)."""

    owner_name: str | None = None
    owner_email: str | None = None
    image: str | None = None  # square artwork, 1400-3000 px
    category: str = "News"
    explicit: bool = False
    podping: bool = False  # the feed's changes are announced through Podping (podcast:podping)


@dataclass(frozen=True)
class Site:
    title: str
    description: str
    url: str
    language: str
    public_url: str
    hubs: tuple[str, ...] = ()
    podcast: Podcast = field(default_factory=Podcast)


@dataclass(frozen=True)
class FeedDescription:
    key: str
    title: str
    subtitle: str
    link: str  # the HTML page this feed mirrors
    language: str
    self_urls: dict[str, str]
    hubs: tuple[str, ...]
    is_podcast: bool
    author: str
    page: str = ""  # the feed's HTML page (its alternate)
    podcast: Podcast | None = None


def item_id(article_id: str) -> str:
    return f"urn:uuid:{uuid.uuid5(_ITEM_NAMESPACE, article_id)}"


def feed_id(feed_key: str) -> str:
    return f"urn:uuid:{uuid.uuid5(_ITEM_NAMESPACE, 'feed:' + feed_key)}"


def feed_page_url(public_url: str, key: str) -> str:
    """The HTML page of a feed, for people (api/serving.py)."""
    return f"{public_url.rstrip('/')}/feeds/{quote(key)}"


def feed_url(public_url: str, key: str, fmt: str) -> str:
    return f"{public_url.rstrip('/')}/feeds/{quote(key)}.{fmt}"


def describe(key: str, site: Site, articles: list[Article]) -> FeedDescription:
    """Title and links of the feed `key`, naming its subject from the articles it holds."""
    kind, _, rest = key.partition("/")
    subject = _subject_name(kind, rest, articles)
    if key == ALL:
        title, subtitle = site.title, site.description
    elif key == AUDIO:
        title, subtitle = f"{site.title}: Audio", f"Audio programmes from {site.title}"
    elif kind == "section":
        title, subtitle = f"{site.title}: {subject}", f"{subject} from {site.title}"
    elif kind == "tag":
        title, subtitle = f"{site.title}: {subject}", f"Articles tagged {subject} on {site.title}"
    else:
        title, subtitle = f"{site.title}: {subject}", f"Articles by {subject} on {site.title}"
    return FeedDescription(
        key=key,
        title=title,
        subtitle=subtitle,
        link=site.url,
        language=site.language,
        self_urls={fmt: feed_url(site.public_url, key, fmt) for fmt in FORMATS},
        hubs=site.hubs,
        is_podcast=key == AUDIO,
        author=site.title,
        page=feed_page_url(site.public_url, key),
        podcast=site.podcast,
    )


def _subject_name(kind: str, rest: str, articles: list[Article]) -> str:
    """The display name behind a slug, e.g. 'News > Lithuania' for section/news/lithuania."""
    slugs = rest.split("/") if rest else []
    for article in articles:
        if kind == "section":
            trail = article.sections[: len(slugs)]
            if [feed_slug(s) for s in trail] == slugs:
                return " > ".join(s.name for s in trail)
        elif kind == "tag":
            for tag in article.tags:
                if feed_slug(tag) == rest:
                    return tag.name
        elif kind == "author":
            for author in article.authors:
                if feed_slug(author) == rest:
                    return author.name
    return rest.replace("/", " > ") or kind
