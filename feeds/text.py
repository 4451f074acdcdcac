"""Text hygiene shared by the model and the writers: slugs, XML-safe strings, safe HTML."""

from __future__ import annotations

import html
import re
import unicodedata

import nh3
from text_unidecode import unidecode

# XML 1.0 Char production: anything outside it makes lxml refuse the whole document.
_XML_ILLEGAL = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]"
)
# Bidi overrides can flip how a headline reads in a reader; they have no place in a title.
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
_NON_SLUG = re.compile(r"[^a-z0-9]+")

# What survives in summaries and bodies: text structure, links and images; never script,
# iframes, event handlers, styles or forms.
_ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "dd", "del", "dl", "dt",
    "em", "figcaption", "figure", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "li",
    "ol", "p", "pre", "q", "s", "small", "strong", "sub", "sup", "table", "tbody", "td", "th",
    "thead", "tr", "u", "ul",
}
_ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
}


def xml_safe(value: str) -> str:
    """Drop characters XML 1.0 forbids (NUL, C0 controls, lone surrogates, U+FFFE/U+FFFF)."""
    return _XML_ILLEGAL.sub("", value)


def clean_line(value: str, limit: int) -> str:
    """A one-line field (title, name, caption): XML-safe, no bidi overrides, spaces folded, capped."""
    value = _BIDI_CONTROLS.sub("", xml_safe(value))
    value = " ".join(value.split())
    if len(value) > limit:
        value = value[: limit - 1].rstrip() + "…"
    return value


def clean_html(value: str, limit: int) -> str:
    """Sanitize CMS HTML with a real sanitizer (ammonia via nh3); cap the input first."""
    value = xml_safe(value)[:limit]
    return nh3.clean(
        value,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
    )


def html_to_text(value: str) -> str:
    """Plain text of sanitized HTML, for places that take no markup (tweets, G+ content)."""
    return " ".join(html.unescape(nh3.clean(value, tags=set())).split())


def slugify(value: str) -> str:
    """Lower case, ASCII-folded, hyphens: 'Côte d’Ivoire' -> 'cote-d-ivoire', '北京' -> 'bei-jing'."""
    folded = unidecode(unicodedata.normalize("NFKC", value))
    return _NON_SLUG.sub("-", folded.lower()).strip("-")[:100].strip("-")
