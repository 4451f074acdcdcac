"""A strict feed checker: the errors *and warnings* of the W3C Feed Validation Service
(validator.w3.org/feed, rubys/feedvalidator) that apply to what syndicate writes.

That validator is not installable from PyPI, so its rules are restated here, each with the
message name it uses, and applied to every feed the fixtures produce. `problems()` returns a list
of (rule, where) pairs; an empty list is a clean bill.
"""

from __future__ import annotations

import html
import re
import time
from datetime import datetime
from email.utils import parsedate_to_datetime
from html.entities import name2codepoint
from urllib.parse import urlsplit

from lxml import etree

ATOM = "http://www.w3.org/2005/Atom"
ITUNES = "http://www.itunes.com/dtds/podcast-1.0.dtd"
MEDIA = "http://search.yahoo.com/mrss/"
DC = "http://purl.org/dc/elements/1.1/"
CONTENT = "http://purl.org/rss/1.0/modules/content/"
PODCAST = "https://podcastindex.org/namespace/1.0"
# RFC 6721's namespace is the one the validator does not know (the accepted exception); the
# Podcasting 2.0 namespace is required by the podcast apps that read podcast:guid.
KNOWN_NS = {
    ATOM,
    ITUNES,
    MEDIA,
    DC,
    CONTENT,
    PODCAST,
    "http://purl.org/rss/1.0/modules/slash/",
    "http://purl.org/syndication/thread/1.0",
    "http://purl.org/atompub/tombstones/1.0",
}
# The validator's list of HTML tag names (validators.HTMLValidator.htmltags), for ContainsHTML.
HTML_TAGS = set(
    """a abbr acronym address applet area article aside audio b base basefont bdi
bdo big blockquote body br button canvas caption center cite code col colgroup command data
datagrid datalist dd del details dfn dialog dir div dl dt em eventsource fieldset figcaption
figure font footer form frame frameset h1 h2 h3 h4 h5 h6 head header hgroup hr html i iframe img
input ins isindex kbd label legend li link m main mark map menu meta meter nav noframes noscript
object ol optgroup option output p param picture pre progress q rp rt ruby s samp script section
select slot small source span strike strong style sub summary sup table tbody td template
textarea tfoot th thead time title tr track tt u ul var xmp plaintext embed comment listing video
wbr""".split()
)
END_TAG = re.compile(r"</(\w+)>")
ENTITY = re.compile(r"&(#?\w+)")
EMAIL_IN_NAME = re.compile(
    r"<([A-Z0-9_\-+.']+)@(([0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.)|(([A-Z0-9\-]+\.)+))"
    r"([A-Z0-9][-A-Z0-9]*)>",
    re.I,
)
HREFS = (
    re.compile(r"""<a\s+href=(?:"(.*?)"|'(.*?)'|([\w-]+))[\s>]""", re.I),
    re.compile(r"""<img\s+[^>]*src=(?:"(.*?)"|'(.*?)'|([\w-]+))[\s>]""", re.I),
)
ABSOLUTE_REF = re.compile(r"\w+:")
# Apple's top-level podcast categories (the validator's InvalidItunesCategory list).
ITUNES_CATEGORIES = {
    "Arts",
    "Business",
    "Comedy",
    "Education",
    "Fiction",
    "Government",
    "History",
    "Health & Fitness",
    "Kids & Family",
    "Leisure",
    "Music",
    "News",
    "Religion & Spirituality",
    "Science",
    "Society & Culture",
    "Sports",
    "Technology",
    "True Crime",
    "TV & Film",
}
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
RFC822 = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|"
    r"Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d (GMT|[+-]\d{4})$"
)
LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
DURATION = re.compile(r"^(\d+:)?[0-5]?\d:[0-5]\d$|^\d+$")
# validators.mime_re: type/subtype with optional parameters
MIME = re.compile(
    r'[^\s()<>,;:\\"/[\]?=]+/[^\s()<>,;:\\"/[\]?=]+(\s*;\s*[^\s()<>,;:\\"/[\]?=]+='
    r'("(\\"|[^"])*"|[^\s()<>,;:\\"/[\]?=]+))*$'
)


def _absolute(url: str | None) -> bool:
    parts = urlsplit(url or "")
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _rfc822(text: str | None) -> bool:
    if not text or not RFC822.match(text):
        return False
    try:
        parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return False
    return True


def problems(data: bytes, self_url: str) -> list[tuple[str, str]]:
    root = etree.fromstring(data)
    out: list[tuple[str, str]] = []
    hex_lines = [b"&#x" in line for line in data.split(b"\n")]
    _text_rules(root, hex_lines, out)
    for el in root.iter():
        ns = etree.QName(el).namespace if isinstance(el.tag, str) else None
        if ns and ns not in KNOWN_NS:
            out.append(("UndefinedElement", el.tag))
    if root.tag == "rss":
        _rss(root, self_url, out)
    elif root.tag == f"{{{ATOM}}}feed":
        _atom(root, self_url, out)
    else:
        out.append(("UnknownFormat", root.tag))
    return out


# Plain-text elements (the validator's `nonhtml` and `nonemail` classes) and HTML elements
# (`safeHtml`, with the relative-reference scan), by format.
RSS_PLAIN = {
    "title",
    "description@channel",
    f"{{{DC}}}creator",
    "category",
    f"{{{ITUNES}}}author",
    f"{{{ITUNES}}}summary",
    f"{{{ITUNES}}}name",
    f"{{{MEDIA}}}title",
    f"{{{MEDIA}}}credit",
    f"{{{MEDIA}}}description",
}
NAMES = {f"{{{DC}}}creator", f"{{{ATOM}}}name", f"{{{ITUNES}}}name", f"{{{ITUNES}}}author"}
RSS_HTML = {"description@item", f"{{{CONTENT}}}encoded"}


def _implausible(when: datetime) -> bool:
    """validators.implausible_*: before 1990 or more than ten minutes ahead."""
    return when.year < 1990 or when.timestamp() > time.time() + 600


def _text_rules(root: etree._Element, hex_lines: list[bool], out: list[tuple[str, str]]) -> None:
    rss = root.tag == "rss"
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        parent = el.getparent()
        where = f"{el.tag}@{etree.QName(parent).localname if parent is not None else ''}"
        text = el.text or ""
        plain = (
            (el.tag in RSS_PLAIN or where in RSS_PLAIN)
            if rss
            else (
                el.tag in (f"{{{ATOM}}}title", f"{{{ATOM}}}name", f"{{{ATOM}}}subtitle")
                and el.get("type", "text") == "text"
            )
        )
        if plain and text:
            tags = [t for t in END_TAG.findall(text) if t.lower() in HTML_TAGS]
            entities = [
                v
                for v in ENTITY.findall(text)
                if v in name2codepoint or v == "apos" or not v.isalpha()
            ]
            if tags or entities:
                out.append(("ContainsHTML", where))
            elif (
                rss
                and re.search(r"&#[x0-9]|<[/a-zA-Z]", text)
                and not (el.sourceline and hex_lines[el.sourceline - 1])
            ):
                out.append(("CharacterData", where))
        if el.tag in NAMES and EMAIL_IN_NAME.search(text):
            out.append(("ContainsEmail", where))
        is_html = (
            (el.tag in RSS_HTML or where in RSS_HTML)
            if rss
            else (
                el.tag in (f"{{{ATOM}}}content", f"{{{ATOM}}}summary") and el.get("type") == "html"
            )
        )
        if is_html and text:
            for pattern in HREFS:
                for groups in pattern.findall(text):
                    ref = html.unescape(next((g for g in groups if g), "")).strip()
                    if not ABSOLUTE_REF.match(ref):
                        out.append(("ContainsRelRef", where))
        local = etree.QName(el).localname
        if local in ("pubDate", "lastBuildDate") and _rfc822(text):
            if _implausible(parsedate_to_datetime(text)):
                out.append(("ImplausibleDate", where))
        elif not rss and local in ("updated", "published") and RFC3339.match(text):
            if _implausible(datetime.fromisoformat(text.replace("Z", "+00:00"))):
                out.append(("ImplausibleDate", where))


def _rss(root: etree._Element, self_url: str, out: list[tuple[str, str]]) -> None:
    if root.get("version") != "2.0":
        out.append(("InvalidRSSVersion", "rss"))
    channel = root.find("channel")
    for name in ("title", "link", "description"):
        if not (channel.findtext(name) or "").strip():
            out.append(("MissingElement", f"channel/{name}"))
    selfs = [l for l in channel.findall(f"{{{ATOM}}}link") if l.get("rel") == "self"]
    if len(selfs) != 1 or selfs[0].get("href") != self_url:
        out.append(("SelfDoesntMatchLocation / MissingAtomSelfLink", "channel"))
    elif selfs[0].get("type") != "application/rss+xml":
        out.append(("SelfNotRssType", "channel"))
    for name in ("lastBuildDate", "pubDate"):
        if channel.find(name) is not None and not _rfc822(channel.findtext(name)):
            out.append(("InvalidRFC2822Date", f"channel/{name}"))
    if not LANGUAGE.match(channel.findtext("language") or ""):
        out.append(("InvalidLanguage", "channel/language"))
    if channel.find("ttl") is not None and not (channel.findtext("ttl") or "").isdigit():
        out.append(("InvalidInteger", "channel/ttl"))
    guids: set[str] = set()
    for i, item in enumerate(channel.findall("item")):
        where = f"item[{i}]"
        if not (item.findtext("title") or item.findtext("description")):
            out.append(("ItemMustContainTitleOrDescription", where))
        if not _absolute(item.findtext("link")):
            out.append(("InvalidURLAttribute", f"{where}/link"))
        guid = item.find("guid")
        if guid is None:
            out.append(("MissingGuid", where))
        else:
            if guid.text in guids:
                out.append(("DuplicateItem", where))
            guids.add(guid.text)
            if guid.get("isPermaLink") != "false" and not _absolute(guid.text):
                out.append(("InvalidPermalink", f"{where}/guid"))
        if not _rfc822(item.findtext("pubDate")):
            out.append(("InvalidRFC2822Date", f"{where}/pubDate"))
        for enc in item.findall("enclosure"):
            # url a full URL, length a non-negative integer (zero: unknown), type a MIME type
            if (
                not _absolute(enc.get("url"))
                or not (enc.get("length") or "").isdigit()
                or not MIME.match(enc.get("type") or "")
            ):
                out.append(("InvalidEnclosure", where))
        for media in item.findall(f"{{{MEDIA}}}content"):
            if not _absolute(media.get("url")):
                out.append(("InvalidURLAttribute", f"{where}/media:content"))
            for attr in ("fileSize", "width", "height"):
                if media.get(attr) is not None and not media.get(attr).isdigit():
                    out.append(("InvalidInteger", f"{where}/media:content/@{attr}"))
        duration = item.findtext(f"{{{ITUNES}}}duration")
        if duration is not None and not DURATION.match(duration):
            out.append(("InvalidDuration", f"{where}/itunes:duration"))
    _itunes(channel, out)


def _itunes(channel: etree._Element, out: list[tuple[str, str]]) -> None:
    if channel.find(f"{{{ITUNES}}}explicit") is None and not any(
        el.tag.startswith(f"{{{ITUNES}}}") for el in channel.iter() if isinstance(el.tag, str)
    ):
        return  # not a podcast
    if channel.findtext(f"{{{ITUNES}}}explicit") not in ("true", "false"):
        out.append(("InvalidItunesExplicit", "channel"))
    image = channel.find(f"{{{ITUNES}}}image")
    if image is None or not re.search(r"\.(jpe?g|png)$", image.get("href") or "", re.IGNORECASE):
        out.append(("ItunesImageMustBeJpgOrPng / MissingItunesElement", "channel/itunes:image"))
    cats = channel.findall(f"{{{ITUNES}}}category")
    if not cats:
        out.append(("MissingItunesElement", "channel/itunes:category"))
    elif any(c.get("text") not in ITUNES_CATEGORIES for c in cats):
        out.append(("InvalidItunesCategory", "channel"))
    if channel.find(f"{{{ITUNES}}}explicit") is None:
        out.append(("MissingItunesElement", "channel/itunes:explicit"))
    if not channel.findtext("language"):
        out.append(("MissingItunesElement", "channel/language"))
    owner = channel.find(f"{{{ITUNES}}}owner")
    if owner is None:
        out.append(("MissingItunesEmail", "channel/itunes:owner"))
    elif not owner.findtext(f"{{{ITUNES}}}email"):
        out.append(("MissingElement", "itunes:owner/itunes:email"))
    if not channel.findtext(f"{{{ITUNES}}}author"):
        out.append(("MissingItunesElement", "channel/itunes:author"))
    for i, item in enumerate(channel.findall("item")):
        if item.find("enclosure") is None:
            out.append(("MissingEnclosure", f"item[{i}]"))


def _atom(root: etree._Element, self_url: str, out: list[tuple[str, str]]) -> None:
    a = f"{{{ATOM}}}"
    selfs = [l for l in root.findall(f"{a}link") if l.get("rel") == "self"]
    if len(selfs) != 1 or selfs[0].get("href") != self_url:
        out.append(("SelfDoesntMatchLocation / MissingSelf", "feed"))
    if not RFC3339.match(root.findtext(f"{a}updated") or ""):
        out.append(("InvalidRFC3339Date", "feed/updated"))
    ids: set[str] = set()
    for i, entry in enumerate(root.findall(f"{a}entry")):
        where = f"entry[{i}]"
        entry_id = entry.findtext(f"{a}id")
        if entry_id in ids:
            out.append(("DuplicateEntries", where))
        ids.add(entry_id)
        if not (entry_id or "").startswith(("urn:uuid:", "tag:", "http")):
            out.append(("InvalidFullLink / InvalidURN", f"{where}/id"))
        for name in ("updated", "published"):
            value = entry.findtext(f"{a}{name}")
            if value is not None and not RFC3339.match(value):
                out.append(("InvalidRFC3339Date", f"{where}/{name}"))
        for link in entry.findall(f"{a}link"):
            if not _absolute(link.get("href")):
                out.append(("InvalidURLAttribute", f"{where}/link"))
            if link.get("length") is not None and not link.get("length").isdigit():
                out.append(("InvalidInteger", f"{where}/link/@length"))
        for content in entry.findall(f"{a}content") + entry.findall(f"{a}summary"):
            if content.get("type", "text") not in ("text", "html", "xhtml"):
                out.append(("InvalidTextType", where))
