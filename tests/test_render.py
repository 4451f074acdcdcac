"""feeds/render.py: what readers get from one render, read back the way they read it
(feedparser for RSS and Atom, json for JSON Feed). The standards (schemas, the W3C
validator's rules, the stylesheet, hostile text) are tests/test_feed_standards.py's."""

from __future__ import annotations

import copy
import dataclasses
import json
from datetime import UTC, datetime, timedelta

import feedparser
import pytest
from lxml import etree

from feeds import render as render_module
from feeds.article import Article, ArticleEvent
from feeds.describe import Site, describe, item_id
from feeds.render import EPOCH, item_ids, podcast_guid, render
from tests.support import load_fixture

SITE = Site(
    "Newsroom",
    "All the news",
    "https://news.example.org",
    "en",
    "http://feeds.test",
    ("https://hub.example.org/",),
)
T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
TOMBSTONES = "{http://purl.org/atompub/tombstones/1.0}"


def article(article_id: str, hours: int, **changes) -> Article:
    """The seed article as intake makes it, published `hours` after T0 (no later update)."""
    payload = copy.deepcopy(load_fixture("seed-article-published"))
    when = (T0 + timedelta(hours=hours)).isoformat()
    payload["article"].update(
        {
            "id": article_id,
            "url": f"https://news.example.org/news/{article_id}.html",
            "title": f"Story {article_id}",
            "published_at": when,
            "updated_at": when,
            **changes,
        }
    )
    made = ArticleEvent.from_payload(f"evt-{article_id}", payload).article
    assert made is not None
    return made


def feed(articles: list[Article], deleted=None, key: str = "all"):
    return render(describe(key, SITE, articles), articles, deleted)


def read(body: bytes):
    parsed = feedparser.parse(body)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    return parsed


def test_readers_get_the_articles_newest_first_with_one_id_each_in_every_format():
    articles = [article("c", 3), article("b", 2), article("a", 1)]  # newest first, as stored
    out = feed(articles)
    ids = [item_id(a.id) for a in articles]
    for fmt in ("rss", "atom"):
        entries = read(out.bodies()[fmt]).entries
        assert [e.id for e in entries] == ids
        assert [e.title for e in entries] == ["Story c", "Story b", "Story a"]
        assert [e.link for e in entries] == [a.url for a in articles]
        assert item_ids(fmt, out.bodies()[fmt]) == set(ids)
    assert [i["id"] for i in json.loads(out.json)["items"]] == ids
    assert item_ids("json", out.json) == set(ids)
    assert out.written == ("c", "b", "a") and out.skipped == ()


def test_a_retraction_is_announced_in_atom_and_is_never_an_item():
    retracted_at = T0 + timedelta(days=2)
    out = feed([article("kept", 1)], [("gone", retracted_at)])
    [tombstone] = etree.fromstring(out.atom).findall(f"{TOMBSTONES}deleted-entry")
    assert tombstone.get("ref") == item_id("gone")
    assert datetime.fromisoformat(tombstone.get("when")) == retracted_at
    for fmt in ("rss", "atom", "json"):
        assert item_ids(fmt, out.bodies()[fmt]) == {item_id("kept")}
    assert [e.id for e in read(out.atom).entries] == [item_id("kept")]


def test_a_feed_is_as_new_as_its_newest_change_never_the_clock():
    older, newer = article("older", 1), article("newer", 5)
    out = feed([newer, older])
    assert out.updated == newer.modified_at
    for fmt in ("rss", "atom"):
        parsed = read(out.bodies()[fmt]).feed.updated_parsed
        assert datetime(*parsed[:6], tzinfo=UTC) == newer.modified_at
    later_retraction = newer.modified_at + timedelta(hours=1)
    assert feed([newer, older], [("gone", later_retraction)]).updated == later_retraction
    assert feed([]).updated == EPOCH  # nothing in it: a fixed date, still no clock
    assert feed([newer, older]) == out  # the same articles, the same bytes


def test_each_format_names_its_own_self_url_the_hub_and_the_feeds_page():
    out = feed([article("a", 1)], key="tag/nato")
    for fmt in ("rss", "atom"):
        links = {(l["rel"], l["href"]) for l in read(out.bodies()[fmt]).feed.links}
        assert ("self", f"http://feeds.test/feeds/tag/nato.{fmt}") in links
        assert ("hub", "https://hub.example.org/") in links
        assert ("alternate", "http://feeds.test/feeds/tag/nato") in links
    doc = json.loads(out.json)
    assert doc["feed_url"] == "http://feeds.test/feeds/tag/nato.json"


def test_markup_characters_in_text_reach_readers_as_the_newsroom_wrote_them():
    title = "Q&A: why 1 < 2 & what \u201cit\u201d means"
    out = feed([article("qa", 1, title=title)])
    assert b"&amp;" not in out.rss and b"&#x26;" in out.rss  # the RSS profile's references
    for fmt in ("rss", "atom"):
        assert read(out.bodies()[fmt]).entries[0].title == title
    assert json.loads(out.json)["items"][0]["title"] == title


def test_an_article_that_cannot_be_written_loses_only_its_own_item():
    good_new, good_old = article("new", 3), article("old", 1)
    broken = dataclasses.replace(article("broken", 2), title="")  # feedgen refuses it
    out = feed([good_new, broken, good_old], [("gone", T0)])
    assert [article_id for article_id, _ in out.skipped] == ["broken"]
    assert "Required fields not set" in out.skipped[0][1]
    assert out.written == ("new", "old")
    for fmt in ("rss", "atom"):
        assert [e.id for e in read(out.bodies()[fmt]).entries] == [
            item_id("new"),
            item_id("old"),
        ]
    assert etree.fromstring(out.atom).find(f"{TOMBSTONES}deleted-entry") is not None


@pytest.mark.parametrize("fits, expected", [(0, ("c",)), (2, ("c", "b")), (3, ("c", "b", "a"))])
def test_items_stop_at_the_byte_budget_and_the_newest_is_always_written(
    monkeypatch, fits, expected
):
    articles = [article("c", 3), article("b", 2), article("a", 1)]
    sizes = [
        max(len(part) for part in render_module._fragment(a, describe("all", SITE, articles)))
        for a in articles
    ]
    monkeypatch.setattr(render_module, "FEED_ITEMS_MAX_BYTES", sum(sizes[:fits]))
    out = feed(articles)
    assert out.written == expected
    for fmt in ("rss", "atom"):
        assert len(read(out.bodies()[fmt]).entries) == len(expected)
    assert len(json.loads(out.json)["items"]) == len(expected)


def test_unreadable_bytes_have_no_items_and_the_podcast_guid_ignores_scheme_and_slashes():
    for fmt, body in (("rss", b"<rss><channel><item>"), ("atom", b"\xff"), ("json", b"[1]")):
        assert item_ids(fmt, body) == set()
    guid = podcast_guid("http://feeds.test/feeds/audio.rss")
    assert podcast_guid("https://feeds.test/feeds/audio.rss//") == guid
    assert podcast_guid("https://feeds.test/feeds/audio.atom") != guid
