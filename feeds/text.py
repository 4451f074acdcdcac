"""Text hygiene shared by the model and the writers: slugs, XML-safe strings, safe HTML."""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from html.entities import name2codepoint
from urllib.parse import urljoin

import nh3
from text_unidecode import unidecode

# XML 1.0 Char production: anything outside it makes lxml refuse the whole document.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Bidi overrides can flip how a headline reads in a reader; they have no place in a title.
_BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# Other invisible format characters that only serve to disguise text (zero-width joiners stay:
# emoji sequences need them).
_INVISIBLE = re.compile("[\u00ad\u180e\u200b\u2060-\u2064\ufeff\U000e0000-\U000e007f]")
_C1_CONTROLS = re.compile("[\x7f-\x9f]")
_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
_NON_SLUG = re.compile(r"[^a-z0-9]+")

# What survives in summaries and bodies: text structure, links and images; never script,
# iframes, event handlers, styles or forms.
_ALLOWED_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "caption",
    "cite",
    "code",
    "dd",
    "del",
    "dl",
    "dt",
    "em",
    "figcaption",
    "figure",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "ins",
    "li",
    "ol",
    "p",
    "pre",
    "q",
    "s",
    "small",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "u",
    "ul",
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


# "&" right before something that reads as an entity ("&amp", "&#", "&1") is what feed readers
# and the W3C validator take for HTML in plain text; a space keeps the text and loses the doubt.
_AMPERSAND = re.compile(r"&(#?\w+)")


def _loose_ampersand(match: re.Match[str]) -> str:
    word = match.group(1)
    looks_like_entity = word in name2codepoint or word == "apos" or not word.isalpha()
    return "& " + word if looks_like_entity else match.group(0)


def clean_line(value: str, limit: int) -> str:
    """A one-line plain-text field (title, name, caption): markup stripped to its text (as
    WordPress's `the_title_rss` does), entities decoded, XML-safe, no control, bidi or invisible
    characters, spaces folded, capped."""
    value = xml_safe(value)
    if "<" in value or "&" in value:
        value = html.unescape(_TAG.sub(" ", value)) if "<" in value else html.unescape(value)
        value = xml_safe(value)
    value = _C1_CONTROLS.sub("", _INVISIBLE.sub("", _BIDI_CONTROLS.sub("", value)))
    value = _AMPERSAND.sub(_loose_ampersand, value)
    value = " ".join(value.split())
    if len(value) > limit:
        value = value[: limit - 1].rstrip() + "…"
    return value


def clean_html(value: str, limit: int, base: str | None = None) -> str:
    """Sanitize CMS HTML with a real sanitizer (ammonia via nh3); cap the input first. With
    `base` (the article's URL), relative links and image sources are made absolute: a feed is
    read far from the page it came from."""
    value = xml_safe(value)[:limit]

    def absolute(tag: str, attribute: str, url: str) -> str | None:
        if attribute in ("href", "src") and base:
            return urljoin(base, url.strip())
        return url

    return nh3.clean(
        value,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
        attribute_filter=absolute,
    )


def html_to_text(value: str) -> str:
    """Plain text of sanitized HTML, for places that take no markup (tweets, G+ content)."""
    return " ".join(html.unescape(nh3.clean(value, tags=set())).split())


# Symbols that tell tags apart ('C', 'C++', 'C#', 'F#') are spelled out before folding.
_SYMBOL_WORDS = {"+": " plus ", "#": " sharp "}
_SYMBOLS = re.compile("[+#]")


def slugify(value: str) -> str:
    """Lower case, ASCII-folded, hyphens: 'Côte d’Ivoire' -> 'cote-d-ivoire', '北京' -> 'bei-jing',
    'C++' -> 'c-plus-plus', 'C#' -> 'c-sharp'. A name with nothing to fold to ASCII (emoji
    only) gets a stable hash-based slug, so it is never dropped or merged with another."""
    normal = unicodedata.normalize("NFKC", value)
    folded = unidecode(_SYMBOLS.sub(lambda m: _SYMBOL_WORDS[m.group()], normal))
    slug = _NON_SLUG.sub("-", folded.lower()).strip("-")[:100].strip("-")
    if not slug and normal.strip():
        slug = "x-" + hashlib.sha256(" ".join(normal.split()).casefold().encode()).hexdigest()[:10]
    return slug
