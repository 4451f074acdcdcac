"""feedgen extensions for everything feedgen 1.0.0 does not write (or writes wrong).

Each hook adds elements to the tree feedgen built; nothing here edits rendered text.
- Media RSS `media:content` with caption (`media:description`) and credit (`media:credit`);
  feedgen's media extension has neither and wraps items in a `media:group` by default.
- Comments: `slash:comments` (RSS) and an Atom `rel="replies"` link with `thr:count` (RFC 4685).
- Enclosures and related links in Atom, written here because feedgen's Atom entry writer drops
  `rel`/`type`/`length` of entry links (lkiesow/python-feedgen#135), turning them into duplicate
  alternates.
- WebSub `rel="hub"` links in RSS (feedgen copies only the self link into RSS).
- Podcast tags with `itunes:explicit` as true/false, which feedgen's podcast extension refuses.
- RFC 6721 `at:deleted-entry` for retracted articles in Atom.
"""

from __future__ import annotations

from datetime import datetime

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from lxml import etree

from feeds.article import format_time
from feeds.item import Item

ATOM = "http://www.w3.org/2005/Atom"
MEDIA = "http://search.yahoo.com/mrss/"
SLASH = "http://purl.org/rss/1.0/modules/slash/"
THR = "http://purl.org/syndication/thread/1.0"
DC = "http://purl.org/dc/elements/1.1/"
ITUNES = "http://www.itunes.com/dtds/podcast-1.0.dtd"
TOMBSTONES = "http://purl.org/atompub/tombstones/1.0"
PODCAST = "https://podcastindex.org/namespace/1.0"

NAMESPACE = "syndicate"


def _el(
    parent: etree._Element, ns: str | None, tag: str, text: str | None = None, **attrs: object
) -> etree._Element:
    element = etree.SubElement(parent, f"{{{ns}}}{tag}" if ns else tag)
    for name, value in attrs.items():
        if value is not None:
            element.set(name.rstrip("_").replace("__", ":"), str(value))
    if text is not None:
        element.text = text
    return element


def _duration(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    return f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"


class FeedExtension(BaseExtension):
    """Channel-level additions: hub links in RSS, podcast tags, deleted entries in Atom."""

    def __init__(self) -> None:
        self.hubs: tuple[str, ...] = ()
        self.podcast: dict | None = None  # author, image, category, summary, email
        self.deleted: list[tuple[str, datetime]] = []  # (item id, when)

    def extend_ns(self) -> dict[str, str]:
        ns = {"media": MEDIA, "slash": SLASH, "thr": THR, "dc": DC}
        if self.podcast is not None:
            ns["itunes"] = ITUNES  # podcast apps read the RSS; the Atom twin carries none
            ns["podcast"] = PODCAST
        if self.deleted:
            ns["at"] = TOMBSTONES
        return ns

    def extend_rss(self, feed: etree._Element) -> etree._Element:
        channel = feed[0]
        # Insert right after the self link so WebSub discovery finds both early.
        for hub in self.hubs:
            _el(channel, ATOM, "link", href=hub, rel="hub")
        if self.podcast is not None:
            self._podcast(channel)
        return feed

    def extend_atom(self, feed: etree._Element) -> etree._Element:
        for ref, when in self.deleted:
            _el(feed, TOMBSTONES, "deleted-entry", ref=ref, when=format_time(when))
        return feed

    def _podcast(self, parent: etree._Element) -> None:
        p = self.podcast or {}
        _el(parent, ITUNES, "author", p.get("author"))
        _el(parent, ITUNES, "summary", p.get("summary"))
        _el(parent, ITUNES, "explicit", "true" if p.get("explicit") else "false")
        _el(parent, ITUNES, "type", "episodic")
        if p.get("owner_email"):  # an owner without an email is invalid; `check` warns
            owner = _el(parent, ITUNES, "owner")
            _el(owner, ITUNES, "name", p.get("owner_name") or p.get("author"))
            _el(owner, ITUNES, "email", p["owner_email"])
        if p.get("image"):
            _el(parent, ITUNES, "image", href=p["image"])
        _el(parent, ITUNES, "category").set("text", p.get("category") or "News")  # an attribute
        _el(parent, PODCAST, "guid", p.get("guid"))
        if p.get("podping"):  # its changes are announced: apps need not poll it often
            _el(parent, PODCAST, "podping", usesPodping="true")
        locked = _el(parent, PODCAST, "locked", "yes")  # no other host may import this feed
        if p.get("owner_email"):
            locked.set("owner", p["owner_email"])


class EntryExtension(BaseEntryExtension):
    """Item-level additions, read from the neutral item (`feeds.item.Item`) the writer attaches.

    feedgen builds Atom with un-namespaced element names under an `xmlns` attribute, so Atom
    elements here are un-namespaced too; `{ATOM}` names would serialize as `ns0:` prefixes.
    """

    def __init__(self) -> None:
        self.item: Item | None = None
        self.podcast = False

    def extend_rss(self, element: etree._Element) -> etree._Element:
        item = self.item
        assert item is not None
        for author in item.authors:
            _el(element, DC, "creator", author.name)
        for category in item.categories:
            _el(element, None, "category", category.label, domain=category.scheme)
        for rel in item.related:  # as in Atom: readers of either format find them
            _el(
                element,
                ATOM,
                "link",
                rel="related",
                href=rel.url,
                type="text/html",
                title=rel.title,
            )
        if item.comments is not None and item.comments.count is not None:
            _el(element, SLASH, "comments", str(item.comments.count))
        if item.enclosure is not None:
            _el(
                element,
                None,
                "enclosure",
                url=item.enclosure.url,
                length=str(item.enclosure.length),
                type=item.enclosure.type,
            )
        self._media(element)
        if self.podcast:
            self._itunes(element)
        return element

    def extend_atom(self, entry: etree._Element) -> etree._Element:
        item = self.item
        assert item is not None
        for category in item.categories:
            _el(
                entry,
                None,
                "category",
                term=category.term,
                label=category.label,
                scheme=category.scheme,
            )
        for rel in item.related:
            _el(entry, None, "link", rel="related", href=rel.url, type="text/html", title=rel.title)
        if item.comments is not None and item.comments.url:
            link = _el(entry, None, "link", rel="replies", href=item.comments.url, type="text/html")
            if item.comments.count is not None:
                link.set(f"{{{THR}}}count", str(item.comments.count))
        if item.enclosure is not None:
            _el(
                entry,
                None,
                "link",
                rel="enclosure",
                href=item.enclosure.url,
                type=item.enclosure.type,
                length=str(item.enclosure.length),
            )
        self._media(entry)
        return entry

    def _media(self, parent: etree._Element) -> None:
        image = self.item.image if self.item else None
        if image is None:
            return
        content = _el(
            parent,
            MEDIA,
            "content",
            url=image.url,
            medium="image",
            type=image.type,
            width=image.width,
            height=image.height,
            fileSize=image.length,
        )
        if self.item and self.item.title:
            _el(content, MEDIA, "title", self.item.title, type="plain")
        if image.caption:
            _el(content, MEDIA, "description", image.caption, type="plain")
        if image.credit:
            _el(content, MEDIA, "credit", image.credit)

    def _itunes(self, parent: etree._Element) -> None:
        item = self.item
        assert item is not None
        if item.authors:
            _el(parent, ITUNES, "author", ", ".join(x.name for x in item.authors))
        audio = item.enclosure
        if audio is not None and audio.duration is not None:
            _el(parent, ITUNES, "duration", _duration(audio.duration))
        if item.image is not None:
            _el(parent, ITUNES, "image", href=item.image.url)
        _el(parent, ITUNES, "explicit", "false")
        _el(parent, ITUNES, "episodeType", "full")
        if audio is not None and audio.season is not None:
            _el(parent, ITUNES, "season", str(audio.season))
        if audio is not None and audio.episode is not None:
            _el(parent, ITUNES, "episode", str(audio.episode))
