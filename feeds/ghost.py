"""A Ghost webhook body as one of our events: pure, no I/O (the HTTP side is api/ghost.py).

Ghost posts `{"event": "post.published", "post": {"current": {...}, "previous": {...}}}`
(`event` only from Ghost 6; Ghost 5 sends the same body without it). `current` is the post as the
Admin API serializes it, `previous` only the fields that changed, as they were; for
`post.deleted`, `current` is `{}` and `previous` is the whole post.

The four events of contract section 10 become ours: `post.published` → `article.published`,
`post.published.edited` → `article.updated`, `post.unpublished` and `post.deleted` →
`article.unpublished`. The article id is `ghost-{post id}`; Ghost posts carry no version, so the
post's `updated_at` orders them. Ghost sends no event id either: the webhook id is derived from
the event, the post id and the post's `updated_at` (for `post.deleted`, the time Ghost signed
the delivery: the same for each of its retries), so a retry of one delivery is a duplicate.

What an article takes from a post: the first public tag is the section, the other public tags
the tags (internal tags, `#`-prefixed or `visibility: internal`, never show), the authors (name,
slug, page; never their e-mail), the feature image and its caption (markup stripped), the custom
excerpt as the summary (else Ghost's own excerpt of a public post), the canonical URL (else the
post URL). The body is the post's HTML for public posts only: a members-only or paid post's
content stays in Ghost; its feed item carries the custom excerpt alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from feeds.article import format_time, parse_time
from feeds.text import clean_line
from feeds.validation import LIMITS, FieldError

EVENTS = {
    "post.published": "article.published",
    "post.published.edited": "article.updated",
    "post.unpublished": "article.unpublished",
    "post.deleted": "article.unpublished",
}
BODY_HTML_MAX = 500_000  # the event schema's limit: a longer body is left out, not refused
_POST_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # fullmatch: no trailing newline


class GhostPayloadError(ValueError):
    """The body is not a Ghost post webhook we can read; `errors` name Ghost's fields."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field} {e.message}" for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class GhostDelivery:
    event: str  # Ghost's event name, given or inferred
    webhook_id: str
    payload: dict[str, Any]  # our event, still to be validated (feeds.validation)
    origins: dict[str, str] = field(default_factory=dict)  # our field -> Ghost's field

    def ghost_field(self, ours: str) -> str:
        """The Ghost field an error about our field `ours` is about (the longest match)."""
        best = ""
        for prefix in self.origins:
            if (ours == prefix or ours.startswith((prefix + ".", prefix + "["))) and len(
                prefix
            ) > len(best):
                best = prefix
        return self.origins[best] + ours[len(best) :] if best else ours

    def named_in_ghost(self, errors: list[FieldError]) -> list[FieldError]:
        return [FieldError(self.ghost_field(e.field), e.message) for e in errors]


def _obj(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


def infer_event(current: dict[str, Any], previous: dict[str, Any]) -> str:
    """A Ghost 5 body's event (contract section 10): `current` empty: deleted; now published
    and the status changed: published; was published and is not: unpublished; otherwise an
    edit of a published post."""
    if not current:
        return "post.deleted"
    if current.get("status") == "published" and "status" in previous:
        return "post.published"
    if previous.get("status") == "published" and current.get("status") != "published":
        return "post.unpublished"
    return "post.published.edited"


def _event_and_post(body: Any) -> tuple[str, str, dict[str, Any]]:
    """(event, path of the post in the body, the post), or GhostPayloadError."""
    if not isinstance(body, dict):
        raise GhostPayloadError([FieldError("(body)", "must be a JSON object")])
    post = _obj(body.get("post"))
    if post is None:
        raise GhostPayloadError(
            [
                FieldError(
                    "post",
                    "is required (an object with current and previous): is this a post webhook?",
                )
            ]
        )
    current = post.get("current") or {}
    previous = post.get("previous") or {}
    errors = [
        FieldError(f"post.{name}", "must be an object")
        for name, value in (("current", current), ("previous", previous))
        if not isinstance(value, dict)
    ]
    if errors:
        raise GhostPayloadError(errors)
    event = body.get("event")
    if event is None:
        event = infer_event(current, previous)
    elif event not in EVENTS:
        shown = clean_line(event, 100) if isinstance(event, str) else type(event).__name__
        raise GhostPayloadError(
            [
                FieldError(
                    "event",
                    f"must be one of {', '.join(EVENTS)} "
                    f"(got {shown!r}): add only these four "
                    "webhooks in Ghost",
                )
            ]
        )
    if event == "post.deleted":
        return event, "post.previous", previous
    return event, "post.current", current


def _post_id_and_time(where: str, post: dict[str, Any]) -> tuple[str, str]:
    errors = []
    post_id = post.get("id")
    if not isinstance(post_id, str) or not _POST_ID.fullmatch(post_id):
        errors.append(
            FieldError(f"{where}.id", "must be Ghost's post id (1 to 64 letters, digits, - or _)")
        )
    updated = post.get("updated_at")
    stamp = ""
    try:
        stamp = format_time(parse_time(updated)) if isinstance(updated, str) else ""
    except (ValueError, OverflowError):
        pass
    if not stamp:
        errors.append(FieldError(f"{where}.updated_at", "must be a date-time with a UTC offset"))
    if errors:
        raise GhostPayloadError(errors)
    return str(post_id), stamp


def to_event(body: Any, signed_at: datetime) -> GhostDelivery:
    """The event a Ghost webhook body stands for. `signed_at` is the `t` of the delivery's
    verified signature (ms since the epoch, the same on Ghost's retries). Raises
    GhostPayloadError when the body is not a post webhook of the four events; whatever else is
    wrong is left to feeds.validation, whose errors `GhostDelivery.named_in_ghost` renames."""
    event, where, post = _event_and_post(body)
    post_id, updated_at = _post_id_and_time(where, post)
    when = format_time(signed_at) if event == "post.deleted" else updated_at
    webhook_id = f"ghost-{post_id}-{event}-{when}"
    article: dict[str, Any] = {"id": f"ghost-{post_id}", "updated_at": updated_at}
    origins = {
        "article": where,
        "article.id": f"{where}.id",
        "article.updated_at": f"{where}.updated_at",
    }
    payload = {"type": EVENTS[event], "occurred_at": format_time(signed_at), "article": article}
    if EVENTS[event] == "article.unpublished":
        return GhostDelivery(event, webhook_id, payload, origins)
    if post.get("status") != "published":
        status = clean_line(str(post.get("status")), 30)
        raise GhostPayloadError(
            [FieldError(f"{where}.status", f"must be published for {event} (got {status!r})")]
        )
    _map_post(post, where, article, origins)
    return GhostDelivery(event, webhook_id, payload, origins)


def _map_post(
    post: dict[str, Any], where: str, article: dict[str, Any], origins: dict[str, str]
) -> None:
    """Copy what an article takes from a published post into `article` (and where each field
    came from into `origins`). Values are copied as they are; feeds.validation judges them."""
    public = post.get("visibility", "public") == "public"
    canonical = post.get("canonical_url")
    source = "canonical_url" if isinstance(canonical, str) and canonical.strip() else "url"
    for ours, theirs in (("url", source), ("title", "title"), ("published_at", "published_at")):
        if post.get(theirs) is not None:
            article[ours] = post[theirs]
        origins[f"article.{ours}"] = f"{where}.{theirs}"
    excerpt = post.get("custom_excerpt") or (post.get("excerpt") if public else None)
    if excerpt:
        article["summary"] = excerpt
        origins["article.summary"] = (
            f"{where}.custom_excerpt" if post.get("custom_excerpt") else f"{where}.excerpt"
        )
    html = post.get("html")
    if public and isinstance(html, str) and html and len(html) <= BODY_HTML_MAX:
        article["body_html"] = html
        origins["article.body_html"] = f"{where}.html"
    _map_tags(post, where, article, origins)
    _map_authors(post, where, article, origins)
    _map_image(post, where, article, origins)


def _public_tags(post: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    tags = post.get("tags")
    if not isinstance(tags, list):
        primary = _obj(post.get("primary_tag"))
        return [(0, primary)] if primary and _is_public(primary) else []
    return [(i, t) for i, t in enumerate(tags) if isinstance(t, dict) and _is_public(t)]


def _is_public(tag: dict[str, Any]) -> bool:
    name = tag.get("name")
    return tag.get("visibility", "public") != "internal" and not (
        isinstance(name, str) and name.lstrip().startswith("#")
    )


def _named(item: dict[str, Any]) -> dict[str, Any]:
    out = {"name": item.get("name")}
    if isinstance(item.get("slug"), str) and item["slug"]:
        out["slug"] = item["slug"]
    return out


def _map_tags(
    post: dict[str, Any], where: str, article: dict[str, Any], origins: dict[str, str]
) -> None:
    tags = _public_tags(post)
    source = f"{where}.tags" if isinstance(post.get("tags"), list) else f"{where}.primary_tag"
    if not tags:
        return
    first, primary = tags[0]
    article["sections"] = [_named(primary)]
    origins["article.sections[0]"] = source + (f"[{first}]" if source.endswith("tags") else "")
    rest = tags[1 : 1 + LIMITS["tags"]]
    if rest:
        article["tags"] = [_named(tag) for _, tag in rest]
        for k, (i, _) in enumerate(rest):
            origins[f"article.tags[{k}]"] = f"{source}[{i}]"


def _map_authors(
    post: dict[str, Any], where: str, article: dict[str, Any], origins: dict[str, str]
) -> None:
    raw = post.get("authors")
    if not isinstance(raw, list):
        primary = _obj(post.get("primary_author"))
        raw, source = ([primary] if primary else []), f"{where}.primary_author"
    else:
        source = f"{where}.authors"
    authors = [(i, a) for i, a in enumerate(raw) if isinstance(a, dict)][: LIMITS["authors"]]
    if not authors:
        return
    article["authors"] = []
    for k, (i, author) in enumerate(authors):
        mapped = _named(author)
        if isinstance(author.get("url"), str) and author["url"]:
            mapped["url"] = author["url"]
        article["authors"].append(mapped)
        origins[f"article.authors[{k}]"] = source if source.endswith("author") else f"{source}[{i}]"


def _map_image(
    post: dict[str, Any], where: str, article: dict[str, Any], origins: dict[str, str]
) -> None:
    url = post.get("feature_image")
    if url is None or url == "":
        return
    image: dict[str, Any] = {"url": url}
    origins["article.image"] = f"{where}.feature_image"
    origins["article.image.url"] = f"{where}.feature_image"
    caption = post.get("feature_image_caption")
    if isinstance(caption, str):  # may hold markup (links, emphasis): plain text here
        text = clean_line(caption, LIMITS["caption"])
        if text:
            image["caption"] = text
            origins["article.image.caption"] = f"{where}.feature_image_caption"
    article["image"] = image


def signed_time(ms: int) -> datetime:
    """The `t` of a Ghost signature (milliseconds since the epoch) as a UTC time."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC)
