"""The article as syndicate knows it: validated once at the edge, trusted everywhere after.

`ArticleEvent.from_payload` turns a schema-valid CMS event into value objects; every text field is
cleaned here (XML-illegal characters dropped, HTML sanitized, lengths capped) so that no article,
however hostile, can break a render downstream. `to_dict`/`from_dict` are the stored form.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import msgspec

from feeds.text import clean_html, clean_line, slugify, xml_safe

TITLE_LIMIT = 500
SUMMARY_LIMIT = 10_000
BODY_LIMIT = 500_000
NAME_LIMIT = 200
CAPTION_LIMIT = 1_000


def parse_time(value: str) -> datetime:
    """An RFC 3339 time with an offset, as UTC. A naive time is rejected at validation."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"time without a UTC offset: {value!r}")
    return parsed.astimezone(UTC)


def format_time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Named:
    """A section or a tag: a display name and its URL-safe slug."""

    name: str
    slug: str

    @classmethod
    def parse(cls, raw: Any) -> Named | None:
        if isinstance(raw, str):
            raw = {"name": raw}
        name = clean_line(raw["name"], NAME_LIMIT)
        slug = slugify(raw.get("slug") or name)
        return cls(name=name, slug=slug) if name and slug else None


@dataclass(frozen=True)
class Author:
    name: str
    slug: str
    email: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class Image:
    url: str
    type: str | None = None
    width: int | None = None
    height: int | None = None
    length: int | None = None
    caption: str | None = None
    credit: str | None = None


@dataclass(frozen=True)
class Audio:
    url: str
    type: str
    length: int
    duration: int | None = None
    episode: int | None = None
    season: int | None = None


@dataclass(frozen=True)
class Comments:
    count: int | None = None
    url: str | None = None


@dataclass(frozen=True)
class Related:
    url: str
    title: str | None = None


@dataclass(frozen=True)
class Share:
    networks: tuple[str, ...] | None = None  # None: every enabled network
    message: str | None = None
    hashtags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Article:
    id: str
    url: str
    title: str
    published_at: datetime
    version: int | None = None
    updated_at: datetime | None = None
    summary: str = ""
    body_html: str = ""
    language: str | None = None
    sections: tuple[Named, ...] = ()
    tags: tuple[Named, ...] = ()
    authors: tuple[Author, ...] = ()
    image: Image | None = None
    audio: Audio | None = None
    comments: Comments | None = None
    related: tuple[Related, ...] = ()
    share: Share = field(default_factory=Share)

    @property
    def modified_at(self) -> datetime:
        return self.updated_at or self.published_at

    @cached_property
    def fingerprint(self) -> tuple[str, int]:
        """The article id and a hash of every field, computed once per object: the key of the
        renderer's item cache (hashing the whole article on every render cost more than the
        render)."""
        return self.id, hash(self)

    @classmethod
    def from_payload(cls, raw: dict[str, Any]) -> Article:
        """Build from the `article` object of a schema-valid published/updated event."""
        sections = tuple(s for s in (Named.parse(x) for x in raw.get("sections", [])) if s)
        tags = _unique(t for t in (Named.parse(x) for x in raw.get("tags", [])) if t)
        comments = raw.get("comments")
        return cls(
            id=raw["id"],
            version=raw.get("version"),
            url=raw["url"],
            title=clean_line(raw["title"], TITLE_LIMIT) or clean_line(raw["id"], TITLE_LIMIT),
            summary=clean_html(raw.get("summary", ""), SUMMARY_LIMIT, base=raw["url"]),
            body_html=clean_html(raw.get("body_html", ""), BODY_LIMIT, base=raw["url"]),
            language=_opt_line(raw.get("language")),
            sections=sections,
            tags=tags,
            authors=_authors(raw.get("authors", [])),
            published_at=parse_time(raw["published_at"]),
            updated_at=parse_time(raw["updated_at"]) if raw.get("updated_at") else None,
            image=_image(raw["image"]) if raw.get("image") else None,
            audio=_audio(raw["audio"]) if raw.get("audio") else None,
            comments=Comments(count=comments.get("count"), url=comments.get("url"))
            if comments
            else None,
            related=tuple(
                Related(url=r["url"], title=_opt_line(r.get("title")))
                for r in raw.get("related", [])
            ),
            share=_share(raw.get("share") or {}),
        )

    def to_json(self) -> bytes:
        """The stored form (msgspec JSON; times as RFC 3339 in UTC)."""
        return _ENCODER.encode(self)

    @classmethod
    def from_json(cls, data: bytes) -> Article:
        """The stored form back into objects; trusted, it was cleaned on the way in."""
        return _DECODER.decode(data)

    def to_dict(self) -> dict[str, Any]:
        return msgspec.to_builtins(self)


_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(Article)


@dataclass(frozen=True)
class ArticleEvent:
    """One CMS event: what happened to which article, and in what version."""

    event_id: str
    type: str
    article_id: str
    version: int | None
    updated_at: datetime | None
    article: Article | None  # None for an unpublish

    @property
    def publishes(self) -> bool:
        return self.type != "article.unpublished"

    @classmethod
    def from_payload(cls, event_id: str, payload: dict[str, Any]) -> ArticleEvent:
        raw = payload["article"]
        article = Article.from_payload(raw) if payload["type"] != "article.unpublished" else None
        updated = raw.get("updated_at") or raw.get("published_at")
        if article is None and not updated and payload.get("occurred_at"):
            updated = payload["occurred_at"]
        return cls(
            event_id=event_id,
            type=payload["type"],
            article_id=raw["id"],
            version=raw.get("version"),
            updated_at=parse_time(updated) if updated else None,
            article=article,
        )


def _opt_line(value: str | None, limit: int = NAME_LIMIT) -> str | None:
    return (clean_line(value, limit) or None) if value else None


def _unique(items: Any) -> tuple:
    seen: dict[str, Any] = {}
    for item in items:
        seen.setdefault(item.slug, item)
    return tuple(seen.values())


def _authors(raw: list[dict[str, Any]]) -> tuple[Author, ...]:
    authors = []
    for a in raw:
        name = clean_line(a["name"], NAME_LIMIT)
        slug = slugify(a.get("slug") or name)
        if name and slug:
            authors.append(
                Author(name=name, slug=slug, email=_opt_line(a.get("email")), url=a.get("url"))
            )
    return tuple(_unique(authors))


def _image(image: dict[str, Any]) -> Image:
    return Image(
        url=image["url"],
        type=image.get("type"),
        width=image.get("width"),
        height=image.get("height"),
        length=image.get("length"),
        caption=_opt_line(image.get("caption"), CAPTION_LIMIT),
        credit=_opt_line(image.get("credit")),
    )


def _audio(audio: dict[str, Any]) -> Audio:
    return Audio(
        url=audio["url"],
        type=clean_line(audio["type"], NAME_LIMIT),
        length=audio["length"],
        duration=audio.get("duration"),
        episode=audio.get("episode"),
        season=audio.get("season"),
    )


def _share(share: dict[str, Any]) -> Share:
    networks = share.get("networks")
    return Share(
        networks=tuple(dict.fromkeys(networks)) if networks is not None else None,
        message=_opt_line(share.get("message"), 2_000),
        hashtags=tuple(dict.fromkeys(xml_safe(h) for h in share.get("hashtags", []))),
    )
