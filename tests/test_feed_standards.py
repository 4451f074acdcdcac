"""Rendered feeds against what readers and validators check: the Atom RELAX NG schema of
RFC 4287 (plus its Schematron rules, checked by hand), the W3C validator's rules (tests/strict.py),
feedparser, a JSON Feed 1.1 schema, the browser stylesheet, and random hostile articles."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections import Counter
from datetime import UTC, datetime

import feedparser
import jsonschema
import rnc2rng
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from feeds.article import Article, ArticleEvent
from feeds.describe import Podcast, Site, describe
from feeds.membership import feed_keys
from feeds.render import render, render_whole, stylesheet_href
from feeds.validation import validate_event
from tests import strict
from tests.support import FIXTURES, ROOT

ATOM = "{http://www.w3.org/2005/Atom}"
SITE = Site(
    "Newsroom",
    "All the news",
    "https://news.example.org",
    "en",
    "http://feeds.test",
    ("https://hub.example.org/",),
    Podcast(
        owner_name="Audio Desk",
        owner_email="audio@news.example.org",
        image="https://news.example.org/podcast/artwork-3000.jpg",
    ),
)


def _schema() -> etree.RelaxNG:
    rng = rnc2rng.dumps(rnc2rng.load(str(ROOT / "tests" / "schemas" / "atom.rnc")))
    return etree.RelaxNG(etree.fromstring(rng.replace('xmlns:local=""', "").encode()))


SCHEMA = _schema()
JSON_FEED = jsonschema.Draft202012Validator(
    json.loads((ROOT / "tests" / "schemas" / "jsonfeed-1.1.schema.json").read_text()),
    format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
)


def fixture_articles() -> list[Article]:
    """One state per article, the newest, as the store would hold them."""
    out: dict[str, Article] = {}
    for path in sorted(FIXTURES.glob("*.json")):
        payload = json.loads(path.read_text())
        if payload["type"] != "article.unpublished":
            article = ArticleEvent.from_payload(payload["id"], payload).article
            if article.id not in out or article.modified_at >= out[article.id].modified_at:
                out[article.id] = article
    return list(out.values())


def check_atom(data: bytes) -> None:
    root = etree.fromstring(data)
    assert SCHEMA.validate(root), SCHEMA.error_log
    # Schematron rules of RFC 4287 Appendix B, which RELAX NG cannot express:
    has_feed_author = root.find(f"{ATOM}author") is not None
    for entry in root.findall(f"{ATOM}entry"):
        assert has_feed_author or entry.find(f"{ATOM}author") is not None
        links = entry.findall(f"{ATOM}link")
        assert links or entry.find(f"{ATOM}content") is not None
        alternates = Counter(
            (l.get("type"), l.get("hreflang"))
            for l in links
            if l.get("rel", "alternate") == "alternate"
        )
        assert all(n == 1 for n in alternates.values()), alternates


def every_feed(articles: list[Article]):
    keys = sorted({k for a in articles for k in feed_keys(a)})
    for key in keys:
        members = sorted(
            (a for a in articles if key in feed_keys(a)), key=lambda a: a.published_at, reverse=True
        )
        yield (
            key,
            render(
                describe(key, SITE, members), members, [("gone", datetime(2023, 7, 16, tzinfo=UTC))]
            ),
        )


def test_every_fixture_feed_is_schema_valid_atom_and_clean_rss():
    for key, feed in every_feed(fixture_articles()):
        check_atom(feed.atom)
        for body in (feed.rss, feed.atom):
            parsed = feedparser.parse(body)
            assert parsed.bozo == 0, (key, parsed.get("bozo_exception"))
            assert parsed.entries


def test_every_fixture_feed_passes_the_strict_validator_rules():
    for key, feed in every_feed(fixture_articles()):
        for fmt in ("rss", "atom"):
            found = strict.problems(feed.bodies()[fmt], f"http://feeds.test/feeds/{key}.{fmt}")
            assert found == [], (key, fmt, found)


def test_cached_item_fragments_give_the_feed_a_whole_render_gives():
    """`render` splices cached items into the channel; readers must see what feedgen's whole
    render gives: the same entries with the same fields, in the same order."""
    articles = fixture_articles()
    for key, feed in every_feed(articles):
        members = sorted(
            (a for a in articles if key in feed_keys(a)), key=lambda a: a.published_at, reverse=True
        )
        whole = render_whole(
            describe(key, SITE, members), members, [("gone", datetime(2023, 7, 16, tzinfo=UTC))]
        )
        assert feed.json == whole.json
        for fmt in ("rss", "atom"):
            ours, theirs = (feedparser.parse(f.bodies()[fmt]) for f in (feed, whole))
            assert ours.feed == theirs.feed
            assert ours.entries == theirs.entries
            check_atom(feed.atom)
        again = render(
            describe(key, SITE, members), members, [("gone", datetime(2023, 7, 16, tzinfo=UTC))]
        )
        assert again == feed  # deterministic, cache or not


def test_the_strict_rules_catch_what_they_claim_to():
    key, feed = next(every_feed(fixture_articles()))
    self_url = f"http://feeds.test/feeds/{key}.rss"
    broken = feed.rss.replace(b'isPermaLink="false"', b'isPermaLink="true"').replace(
        b"<language>en</language>", b"<language>English</language>"
    )
    rules = {rule for rule, _ in strict.problems(broken, self_url)}
    assert {"InvalidPermalink", "InvalidLanguage"} <= rules
    assert strict.problems(feed.rss, "http://elsewhere.test/x.rss")  # self must match


def _rules(rss: bytes, key: str = "all", fmt: str = "rss") -> set[str]:
    return {rule for rule, _ in strict.problems(rss, f"http://feeds.test/feeds/{key}.{fmt}")}


def test_the_strict_rules_catch_the_warnings_the_w3c_validator_gave():
    """Each warning the real validator printed on the old feeds, reproduced on a feed written
    the old way: markup in a title, an address in a name, a relative link in content, plain
    `&`/`<` in RSS text without hexadecimal references, an implausible date, a podcast owner
    without an email."""
    article = next(a for a in fixture_articles() if a.id == "20230713-0001")
    old_way = dataclasses.replace(
        article,
        title="Breaking: <b>bold</b> & more",
        authors=(dataclasses.replace(article.authors[0], name="O’Brien <obrien@example.org>"),),
        body_html='<p><a href="/news/other.html">other</a> <img src="x.png"></p>',
        published_at=datetime(1985, 1, 1, tzinfo=UTC),
        updated_at=None,
    )
    feed = render(describe("all", SITE, [old_way]), [old_way])
    plain_rss = feed.rss.replace(b"&#x26;", b"&amp;").replace(b"&#x3C;", b"&lt;")
    rules = _rules(plain_rss)
    assert {
        "ContainsHTML",
        "ContainsEmail",
        "ContainsRelRef",
        "ImplausibleDate",
        "CharacterData",
    } <= rules, rules
    assert "CharacterData" not in _rules(feed.rss)  # hexadecimal references: as asked
    atom = _rules(feed.atom, fmt="atom")
    assert {"ContainsHTML", "ContainsEmail", "ContainsRelRef", "ImplausibleDate"} <= atom, atom
    audio = next(a for a in fixture_articles() if a.audio is not None)
    no_owner = dataclasses.replace(SITE, podcast=Podcast())
    podcast = render(describe("audio", no_owner, [audio]), [audio]).rss
    assert "MissingItunesEmail" in _rules(podcast, "audio")


def test_what_intake_makes_of_the_old_way_is_clean():
    """The same article through intake: markup stripped from the title, the address from the
    name, relative links resolved against the article's URL; dates before 1990 refused."""
    event = json.loads((FIXTURES / "seed-article-published.json").read_text())
    event["article"].update(
        title="Breaking: <b>bold</b> & more",
        authors=[{"name": "O’Brien <obrien@example.org>"}],
        body_html='<p><a href="/news/other.html">other</a> <img src="x.png"></p>',
    )
    assert validate_event(event) == []
    article = ArticleEvent.from_payload("e", event).article
    assert article.title == "Breaking: bold & more" and article.authors[0].name == "O’Brien"
    assert 'href="https://news.example.org/news/other.html"' in article.body_html
    for key in ("all", "author/o-brien"):
        feed = render(describe(key, SITE, [article]), [article])
        assert _rules(feed.rss, key) == set() and _rules(feed.atom, key, "atom") == set()
    event["article"]["published_at"] = "1985-01-01T00:00:00Z"
    assert [e.field for e in validate_event(event)] == ["article.published_at"]


def test_json_feed_has_the_same_items_and_is_valid_json_feed_1_1():
    articles = fixture_articles()
    for key, feed in every_feed(articles):
        doc = json.loads(feed.json)
        errors = [e.message for e in JSON_FEED.iter_errors(doc)]
        assert errors == [], (key, errors)
        atom_ids = [
            e.findtext(f"{ATOM}id") for e in etree.fromstring(feed.atom).findall(f"{ATOM}entry")
        ]
        assert [item["id"] for item in doc["items"]] == atom_ids
        assert doc["feed_url"] == f"http://feeds.test/feeds/{key}.json"
        assert doc["hubs"] == [{"type": "WebSub", "url": "https://hub.example.org/"}]
    seed = next(a for a in articles if a.id == "20230713-0001")
    item = json.loads(render(describe("all", SITE, [seed]), [seed]).json)["items"][0]
    assert item["image"] == seed.image.url
    assert item["_syndicate"]["image"]["credit"] == seed.image.credit
    assert item["_syndicate"]["related"][0]["url"] == seed.related[0].url
    assert "Lithuania" in item["tags"]
    audio = next(a for a in articles if a.audio is not None)
    item = json.loads(render(describe("audio", SITE, [audio]), [audio]).json)["items"][0]
    assert item["attachments"][0] == {
        "url": audio.audio.url,
        "mime_type": audio.audio.type,
        "size_in_bytes": audio.audio.length,
        "duration_in_seconds": audio.audio.duration,
    }


def test_feeds_name_a_stylesheet_that_turns_them_into_a_page():
    xslt = etree.XSLT(etree.parse(str(ROOT / "feeds" / "style.xsl")))
    for key, feed in every_feed(fixture_articles()):
        for fmt in ("rss", "atom"):
            doc = etree.fromstring(feed.bodies()[fmt]).getroottree()
            pi = doc.getroot().getprevious()
            assert pi.target == "xml-stylesheet" and pi.get("href") == stylesheet_href(key)
            # Resolved against the feed's own URL, the relative href names /feeds/style.xsl.
            assert stylesheet_href(key) == "../" * key.count("/") + "style.xsl"
            page = xslt(doc)
            titles = [h.text for h in page.getroot().iter("h1")]
            parsed = feedparser.parse(feed.bodies()[fmt])
            assert titles == [parsed.feed.title]
            links = [a.text for a in page.getroot().iter("a") if a.getparent().tag == "h2"]
            assert links == [e.title for e in parsed.entries]


def test_rich_item_fields_reach_readers():
    seed = next(a for a in fixture_articles() if a.id == "20230713-0001")
    feed = render(describe("all", SITE, [seed]), [seed])
    rss = feedparser.parse(feed.rss).entries[0]
    assert rss.media_content[0]["url"] == seed.image.url
    assert rss.media_credit[0]["content"] == seed.image.credit
    assert rss.slash_comments == str(seed.comments.count)
    assert rss.comments == seed.comments.url
    assert rss.guidislink is False
    atom = etree.fromstring(feed.atom).find(f"{ATOM}entry")
    rels = {l.get("rel"): l for l in atom.findall(f"{ATOM}link")}
    assert rels["related"].get("href") == seed.related[0].url
    assert rels["replies"].get("{http://purl.org/syndication/thread/1.0}count") == str(
        seed.comments.count
    )
    desc = etree.fromstring(feed.rss).find(".//{http://search.yahoo.com/mrss/}description")
    assert desc.text == seed.image.caption


def test_podcast_feed_has_itunes_tags():
    audio = next(a for a in fixture_articles() if a.audio is not None)
    feed = render(describe("audio", SITE, [audio]), [audio])
    parsed = feedparser.parse(feed.rss)
    assert parsed.bozo == 0
    itunes = "{http://www.itunes.com/dtds/podcast-1.0.dtd}"
    channel = etree.fromstring(feed.rss).find("channel")
    assert channel.find(f"{itunes}explicit").text == "false"  # validators want true/false
    assert channel.find(f"{itunes}category").get("text") == "News"
    assert channel.find(f"{itunes}image").get("href") == SITE.podcast.image  # square artwork
    assert channel.find(f"{itunes}author").text == "Newsroom"
    owner = channel.find(f"{itunes}owner")
    assert owner.findtext(f"{itunes}email") == "audio@news.example.org"
    assert owner.findtext(f"{itunes}name") == "Audio Desk"
    podcast = "{https://podcastindex.org/namespace/1.0}"
    guid = channel.findtext(f"{podcast}guid")
    assert guid == str(
        uuid.uuid5(uuid.UUID("ead4c236-bf58-58c6-a2c6-a6b28d128cb6"), "feeds.test/feeds/audio.rss")
    )
    assert channel.find(f"{podcast}locked").text == "yes"
    assert channel.findtext("language") == "en"
    entry = parsed.entries[0]
    assert entry.itunes_duration == "00:30:20"
    assert entry.enclosures[0]["length"] == str(audio.audio.length)


hostile_text = st.text(
    alphabet=st.characters(codec=None, exclude_categories=()), min_size=1, max_size=300
).filter(lambda s: s.strip())


@settings(max_examples=60, deadline=None)
@given(
    title=hostile_text,
    summary=st.text(max_size=500),
    body=st.text(max_size=500),
    tags=st.lists(hostile_text, max_size=4),
    author=hostile_text,
)
def test_no_article_however_hostile_breaks_a_render(title, summary, body, tags, author):
    payload = {
        "type": "article.published",
        "article": {
            "id": "h-1",
            "url": "https://news.example.org/h",
            "title": title,
            "summary": summary + "<script>alert(1)</script>",
            "body_html": body + "<img onerror=x>",
            "tags": tags,
            "authors": [{"name": author}],
            "sections": [{"name": title}],
            "published_at": "2024-01-01T00:00:00Z",
        },
    }
    if validate_event(payload):
        return
    article = ArticleEvent.from_payload("e", payload).article
    for key in feed_keys(article):
        feed = render(describe(key, SITE, [article]), [article])
        check_atom(feed.atom)
        for data in (feed.rss, feed.atom):
            parsed = feedparser.parse(data)
            assert parsed.bozo == 0
            text = (
                parsed.entries[0].get("summary", "")
                + parsed.entries[0].get("content", [{"value": ""}])[0]["value"]
            ).lower()
            assert "<script" not in text and "onerror" not in text
