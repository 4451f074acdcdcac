"""Event validation against the contract's JSON Schema, with every offending field named.

The schema is the contract's own (`event.schema.json`, shipped with the package). jsonschema's
stock format checks are lenient or need extra packages, so `date-time` (with a required UTC
offset) and `uri` are checked here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import fastjsonschema
from jsonschema import Draft202012Validator, FormatChecker
from urllib3.util import Url, parse_url

from feeds.article import parse_time
from feeds.text import clean_line

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")

_SPACE = re.compile(r"\s")
_formats = FormatChecker(formats=())


@_formats.checks("date-time", raises=ValueError)
def _is_datetime(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _RFC3339.match(value):
        raise ValueError(
            "must be an RFC 3339 date-time with a UTC offset (e.g. 2023-07-13T18:00:00Z)"
        )
    datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    return True


@_formats.checks("uri", raises=ValueError)
def _is_uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    if not parts.scheme or not (parts.netloc or parts.path) or _SPACE.search(value):
        raise ValueError("must be an absolute URI")
    return True


_SCHEMA = json.loads((Path(__file__).parent / "event.schema.json").read_text("utf-8"))
_VALIDATOR = Draft202012Validator(_SCHEMA, format_checker=_formats)


def _as_predicate(check: Callable[[object], bool]) -> Callable[[object], bool]:
    def predicate(value: object) -> bool:
        try:
            return check(value)
        except ValueError:
            return False

    return predicate


# The same schema compiled to Python by fastjsonschema: ~8x faster than jsonschema, which was
# most of intake's CPU. It answers only valid/invalid, so an invalid event is validated again
# by jsonschema to name every offending field. The schema uses no keyword whose meaning differs
# between draft 7 (fastjsonschema) and 2020-12; tests/test_fuzz.py checks the two agree.
_FAST = fastjsonschema.compile(
    {k: v for k, v in _SCHEMA.items() if k != "$schema"},
    formats={"date-time": _as_predicate(_is_datetime), "uri": _as_predicate(_is_uri)},
)


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


def _path(parts: Any) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(body)"


def validate_event(payload: Any) -> list[FieldError]:
    """Every violation of an event body (the schema, then `semantic_errors`), one entry per
    offending field, sorted by field."""
    if depth_exceeds(payload, LIMITS["depth"]):
        return [FieldError("(body)", f"nests deeper than {LIMITS['depth']} levels")]
    try:
        _FAST(payload)
    except Exception:  # invalid (or too odd for the fast path): the full validator decides
        errors = full_validation(payload)
        if errors:
            return errors
    return semantic_errors(payload)


def full_validation(payload: Any) -> list[FieldError]:
    """jsonschema's verdict, every error named (the reference `validate_event` must agree with)."""
    errors: dict[tuple[str, str], FieldError] = {}
    for err in _VALIDATOR.iter_errors(payload):
        # `if/then` failures repeat the inner errors; report the inner ones only.
        leaves = (
            [e for e in err.context]
            if err.validator in ("allOf", "oneOf") and err.context
            else [err]
        )
        for leaf in leaves:
            field = _path(leaf.absolute_path)
            if leaf.validator == "required":
                missing = leaf.message.split("'")[1] if "'" in leaf.message else "?"
                field = f"{field}.{missing}" if field != "(body)" else missing
                message = "is required"
            elif leaf.validator == "format":
                message = str(leaf.cause) if leaf.cause else leaf.message
            elif leaf.validator == "additionalProperties":
                message = leaf.message
            else:
                message = leaf.message
            if len(message) > 300:
                message = message[:297] + "..."
            errors.setdefault((field, message), FieldError(field, message))
    return sorted(errors.values(), key=lambda e: (e.field, e.message))


# What the schema cannot say ----------------------------------------------------------------------
# The worker trusts what intake accepted, so everything it relies on is checked here, and every
# list and text has a limit (README "Limits"). JSON Schema's `integer` admits 1.0 and 1e300, so
# integers are checked by Python type; dates must be plausible; one-line texts must still say
# something once cleaned; URLs are http(s) (mailto for an author).
LIMITS = {
    "sections": 10,
    "tags": 25,
    "authors": 20,
    "related": 20,
    "hashtags": 10,
    "name": 200,
    "slug": 100,
    "caption": 1_000,
    "credit": 300,
    "email": 254,
    "language": 35,
    "media_type": 100,
    "message": 2_000,
    "hashtag": 100,
    "url": 2_048,
    "related_title": 500,
    "depth": 32,
}
MAX_INT = 2**53 - 1  # what every JSON reader keeps exactly
INT_RANGES = {
    "version": (0, MAX_INT),
    "width": (1, 100_000),
    "height": (1, 100_000),
    "length": (0, MAX_INT),
    "duration": (0, 10_000_000),
    "count": (0, MAX_INT),
    "episode": (1, 1_000_000),
    "season": (1, 10_000),
}
# An article's dates must be plausible to feed readers (the W3C validator's ImplausibleDate):
# from 1990 to a few minutes from now (a CMS clock a little ahead is tolerated).
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(minutes=10)
_LANGUAGE = re.compile(r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$")
_MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,62}/[a-z0-9][a-z0-9!#$&^_.+-]{0,62}$")
_HASHTAG = re.compile(r"^\w+$")
_UNSAFE_ID = re.compile(
    "[\\s\x00-\x1f\x7f-\x9f\u00ad\u061c\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2069\ufeff\ud800-\udfff\ufffe\uffff]"
)


def depth_exceeds(value: Any, limit: int) -> bool:
    """True if `value` nests lists/objects deeper than `limit` (iterative: no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def parse_outside_url(value: str, schemes: tuple[str, ...] = ("http", "https")) -> Url:
    """An http(s) URL that came from outside, parsed by urllib3's `parse_url` (the parser
    requests fetches with, so what is checked is what would be fetched); a ValueError says
    what is wrong. Refused: a backslash anywhere (`http://127.0.0.1\\@site/` is host
    127.0.0.1 to urllib3 and browsers but `site` to urllib.parse), credentials (`user:pass@`),
    spaces and control characters, no host. intake (`_check_url`) and worker.outbound both use
    it, so a URL accepted at intake is judged the same way when it is fetched."""
    if len(value) > LIMITS["url"]:
        raise ValueError(f"is longer than {LIMITS['url']} characters")
    scheme = value.partition(":")[0].lower() if ":" in value else ""
    if scheme not in schemes:
        raise ValueError(f"must be an {' or '.join(schemes)} URL")
    if "\\" in value:
        raise ValueError("must not contain a backslash")
    if _UNSAFE_ID.search(value):
        raise ValueError("must not contain spaces or control characters")
    if scheme == "mailto":
        return Url(scheme="mailto", path=value[len("mailto:") :])
    try:
        parts = parse_url(value)
    except (ValueError, UnicodeError):  # LocationParseError is a ValueError
        raise ValueError("is not a valid URL (host or port)") from None
    if parts.auth is not None:
        raise ValueError("must not contain a user name or password")
    if not parts.host:
        raise ValueError("must name a host")
    return parts


def _check_url(
    value: Any, field: str, out: list[FieldError], schemes: tuple[str, ...] = ("http", "https")
) -> None:
    if not isinstance(value, str):
        return
    try:
        parse_outside_url(value, schemes)
    except ValueError as exc:
        out.append(FieldError(field, str(exc)))


def _check_time(value: Any, field: str, out: list[FieldError], plausible: bool = True) -> None:
    if not isinstance(value, str):
        return
    try:
        when = parse_time(value)
    except (ValueError, OverflowError):
        out.append(FieldError(field, "is not a representable date-time"))
        return
    if plausible and when < EARLIEST:
        out.append(FieldError(field, f"must not be before {EARLIEST.year}"))
    elif plausible and when > datetime.now(UTC) + FUTURE_SLACK:
        out.append(
            FieldError(field, "must not be in the future (10 minutes of clock skew are allowed)")
        )


def _check_int(value: Any, name: str, field: str, out: list[FieldError]) -> None:
    if value is None:
        return
    low, high = INT_RANGES[name]
    if type(value) is not int:  # bool is an int subclass; 1.0 and 1e300 are floats
        out.append(
            FieldError(field, "must be a whole number written without a fraction or exponent")
        )
    elif not low <= value <= high:
        out.append(FieldError(field, f"must be between {low} and {high}"))


def _check_text(
    value: Any, field: str, limit: int, out: list[FieldError], required: bool = False
) -> None:
    if not isinstance(value, str):
        return
    if len(value) > limit:
        out.append(FieldError(field, f"is longer than {limit} characters"))
    elif required and not clean_line(value, limit):
        out.append(
            FieldError(
                field, "has no visible text once markup, control and bidi characters are removed"
            )
        )


def _check_list(value: Any, name: str, field: str, out: list[FieldError]) -> list:
    if not isinstance(value, list):
        return []
    if len(value) > LIMITS[name]:
        out.append(FieldError(field, f"has {len(value)} items; at most {LIMITS[name]}"))
        return []
    return value


def semantic_errors(payload: dict[str, Any]) -> list[FieldError]:
    """The checks beyond the schema, on a schema-valid event (see LIMITS)."""
    out: list[FieldError] = []
    article = payload["article"]
    event_id = payload.get("id")  # `backfill` uses it as the event id
    if isinstance(event_id, str) and (len(event_id) > 200 or _UNSAFE_ID.search(event_id)):
        out.append(
            FieldError("id", "must be 1 to 200 characters without spaces or control characters")
        )
    if _UNSAFE_ID.search(article["id"]):
        out.append(
            FieldError(
                "article.id", "must not contain spaces, control, bidi or invisible characters"
            )
        )
    _check_time(payload.get("occurred_at"), "occurred_at", out, plausible=False)
    if payload["type"] == "article.unpublished":
        _check_int(article.get("version"), "version", "article.version", out)
        _check_time(article.get("updated_at"), "article.updated_at", out)
        return sorted(out, key=lambda e: (e.field, e.message))
    _check_int(article.get("version"), "version", "article.version", out)
    _check_text(article.get("title"), "article.title", 1_000, out, required=True)
    _check_url(article.get("url"), "article.url", out)
    for name in ("published_at", "updated_at"):
        _check_time(article.get(name), f"article.{name}", out)
    lang = article.get("language")
    if isinstance(lang, str) and not _LANGUAGE.match(lang):
        out.append(FieldError("article.language", "must be a BCP 47 tag such as en or es-VE"))
    for list_name in ("sections", "tags"):
        for i, item in enumerate(
            _check_list(article.get(list_name), list_name, f"article.{list_name}", out)
        ):
            name = item if isinstance(item, str) else item.get("name")
            _check_text(
                name,
                f"article.{list_name}[{i}]" + ("" if isinstance(item, str) else ".name"),
                LIMITS["name"],
                out,
                required=True,
            )
            if isinstance(item, dict):
                _check_text(item.get("slug"), f"article.{list_name}[{i}].slug", LIMITS["slug"], out)
    for i, author in enumerate(
        _check_list(article.get("authors"), "authors", "article.authors", out)
    ):
        _check_text(
            author.get("name"), f"article.authors[{i}].name", LIMITS["name"], out, required=True
        )
        _check_text(author.get("slug"), f"article.authors[{i}].slug", LIMITS["slug"], out)
        _check_text(author.get("email"), f"article.authors[{i}].email", LIMITS["email"], out)
        _check_url(author.get("url"), f"article.authors[{i}].url", out, ("http", "https", "mailto"))
    _check_media(article, out)
    _check_extras(article, out)
    return sorted(out, key=lambda e: (e.field, e.message))


def _check_media(article: dict[str, Any], out: list[FieldError]) -> None:
    """The lead image and the audio programme."""
    image = article.get("image")
    if isinstance(image, dict):
        _check_url(image.get("url"), "article.image.url", out)
        for name in ("width", "height", "length"):
            _check_int(image.get(name), name, f"article.image.{name}", out)
        _check_text(image.get("caption"), "article.image.caption", LIMITS["caption"], out)
        _check_text(image.get("credit"), "article.image.credit", LIMITS["credit"], out)
        if isinstance(image.get("type"), str) and not _MEDIA_TYPE.match(image["type"]):
            out.append(FieldError("article.image.type", "must be a media type such as image/jpeg"))
    audio = article.get("audio")
    if isinstance(audio, dict):
        _check_url(audio.get("url"), "article.audio.url", out)
        for name in ("length", "duration", "episode", "season"):
            _check_int(audio.get(name), name, f"article.audio.{name}", out)
        if isinstance(audio.get("type"), str) and not _MEDIA_TYPE.match(audio["type"]):
            out.append(FieldError("article.audio.type", "must be a media type such as audio/mpeg"))


def _check_extras(article: dict[str, Any], out: list[FieldError]) -> None:
    """Comments, related links and the share options."""
    comments = article.get("comments")
    if isinstance(comments, dict):
        _check_int(comments.get("count"), "count", "article.comments.count", out)
        _check_url(comments.get("url"), "article.comments.url", out)
    for i, link in enumerate(
        _check_list(article.get("related"), "related", "article.related", out)
    ):
        _check_url(link.get("url"), f"article.related[{i}].url", out)
        _check_text(link.get("title"), f"article.related[{i}].title", LIMITS["related_title"], out)
    share = article.get("share")
    if isinstance(share, dict):
        _check_text(share.get("message"), "article.share.message", LIMITS["message"], out)
        for i, tag in enumerate(
            _check_list(share.get("hashtags"), "hashtags", "article.share.hashtags", out)
        ):
            if isinstance(tag, str) and (
                len(tag) > LIMITS["hashtag"] or not _HASHTAG.match(tag) or tag.isdigit()
            ):
                out.append(
                    FieldError(
                        f"article.share.hashtags[{i}]",
                        f"must be letters, digits or _ (not only digits), at most "
                        f"{LIMITS['hashtag']}",
                    )
                )
