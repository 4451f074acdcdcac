"""A strict feed checker: the errors *and warnings* of the W3C Feed Validation Service
(validator.w3.org/feed, rubys/feedvalidator) that apply to what syndicate writes.

That validator is not installable from PyPI, so its rules are restated here, each with the
message name it uses, and applied to every feed the fixtures produce. `problems()` returns a list
of (rule, where) pairs; an empty list is a clean bill.
"""

from __future__ import annotations

import re
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

from lxml import etree

ATOM = "http://www.w3.org/2005/Atom"
ITUNES = "http://www.itunes.com/dtds/podcast-1.0.dtd"
MEDIA = "http://search.yahoo.com/mrss/"
KNOWN_NS = {ATOM, ITUNES, MEDIA, "http://purl.org/dc/elements/1.1/",
            "http://purl.org/rss/1.0/modules/content/", "http://purl.org/rss/1.0/modules/slash/",
            "http://purl.org/syndication/thread/1.0", "http://purl.org/atompub/tombstones/1.0"}
# Apple's top-level podcast categories (the validator's InvalidItunesCategory list).
ITUNES_CATEGORIES = {
    "Arts", "Business", "Comedy", "Education", "Fiction", "Government", "History",
    "Health & Fitness", "Kids & Family", "Leisure", "Music", "News", "Religion & Spirituality",
    "Science", "Society & Culture", "Sports", "Technology", "True Crime", "TV & Film"}
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
RFC822 = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|"
                    r"Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d (GMT|[+-]\d{4})$")
LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
DURATION = re.compile(r"^(\d+:)?[0-5]?\d:[0-5]\d$|^\d+$")
MIME = re.compile(r"^[\w.+-]+/[\w.+-]+$")


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
            if not _absolute(enc.get("url")) or not (enc.get("length") or "").isdigit() \
                    or int(enc.get("length")) <= 0 or not MIME.match(enc.get("type") or ""):
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
    if channel.find(f"{{{ITUNES}}}explicit") is None and \
            not any(el.tag.startswith(f"{{{ITUNES}}}") for el in channel.iter() if isinstance(el.tag, str)):
        return  # not a podcast
    if channel.findtext(f"{{{ITUNES}}}explicit") not in ("true", "false"):
        out.append(("InvalidItunesExplicit", "channel"))
    image = channel.find(f"{{{ITUNES}}}image")
    if image is None or not re.search(r"\.(jpe?g|png)$", image.get("href") or "", re.IGNORECASE):
        out.append(("ItunesImageMustBeJpgOrPng / MissingItunesElement", "channel/itunes:image"))
    cats = channel.findall(f"{{{ITUNES}}}category")
    if not cats or any(c.get("text") not in ITUNES_CATEGORIES for c in cats):
        out.append(("InvalidItunesCategory", "channel"))
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
