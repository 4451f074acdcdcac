"""Feeds for people and for discovery: the HTML page of each feed, the `/feeds/` index, the
OPML, the `<link rel="alternate">` tags an article page carries, and known feeds that have no
items yet. Over ASGI, and the page in headless Chromium."""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET

import feedparser
import pytest
from lxml import html

from tests.support import SEED_ID, api_process, publish
from worker.store import keys

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_each_feed_has_a_page_with_subscribe_links_and_its_newest_items(service):
    seed = publish(service, "seed-article-published")["article"]
    r = service.anonymous.get("/feeds/tag/nato")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    doc = html.fromstring(r.content)
    assert doc.findtext(".//h1") == "Test Newsroom: NATO"
    links = [a.get("href") for a in doc.get_element_by_id("subscribe").iter("a")]
    assert links == [f"http://feeds.test/feeds/tag/nato.{fmt}" for fmt in ("rss", "atom", "json")]
    items = doc.get_element_by_id("items").findall(".//article")
    assert [i.find(".//h3/a").text for i in items] == [seed["title"]]
    assert items[0].find(".//img").get("src") == seed["image"]["url"]
    assert "<script" not in r.text.lower()
    # Each XML feed names the page as its alternate.
    atom = feedparser.parse(service.feed("tag/nato", "atom").content)
    assert atom.feed.link == "http://feeds.test/feeds/tag/nato"


def test_the_index_lists_every_feed_with_its_item_count_and_opml_has_titles_and_json(service):
    publish(service, "seed-article-published")
    doc = html.fromstring(service.anonymous.get("/feeds/").content)
    rows = {tr.find("td/a").text: tr.findall("td")[1].text
            for tr in doc.get_element_by_id("feeds").iter("tr") if tr.find("td") is not None}
    assert rows["Test Newsroom: NATO"] == "1" and rows["Test Newsroom"] == "1"
    outlines = ET.fromstring(service.anonymous.get("/feeds.opml").content).findall(".//outline")
    by_url = {o.get("xmlUrl"): o.get("title") for o in outlines}
    assert by_url["http://feeds.test/feeds/tag/nato.json"] == "Test Newsroom: NATO (JSON Feed)"
    assert by_url["http://feeds.test/feeds/tag/nato.rss"] == "Test Newsroom: NATO (RSS)"


def test_share_links_carry_the_alternate_tags_of_the_articles_feeds(service):
    publish(service, "seed-article-published")
    body = service.anonymous.get(f"/articles/{SEED_ID}/share-links").json()
    tags = {a["html"] for a in body["alternates"]}
    assert ('<link rel="alternate" type="application/rss+xml" title="Test Newsroom: NATO" '
            'href="http://feeds.test/feeds/tag/nato.rss">') in tags
    assert {a["feed"] for a in body["alternates"]} >= {"section/news", "tag/nato",
                                                       "author/news-desk"}
    assert "all" not in {a["feed"] for a in body["alternates"]}


def test_known_feeds_with_no_items_answer_a_valid_empty_feed(service):
    """`all` and `audio` on a fresh install, a tag whose articles were all retracted: 200 and
    a feed readers accept; a key that never existed: 404."""
    for key in ("all", "audio"):
        for fmt in ("rss", "atom"):
            r = service.anonymous.get(f"/feeds/{key}.{fmt}")
            assert r.status_code == 200, (key, fmt)
            parsed = feedparser.parse(r.content)
            assert parsed.bozo == 0 and parsed.entries == []
        assert service.anonymous.get(f"/feeds/{key}.json").json()["items"] == []
        assert service.anonymous.get(f"/feeds/{key}").status_code == 200
    publish(service, "seed-article-published")
    publish(service, "seed-article-unpublished")
    assert service.redis.sismember(keys.FEEDS, "tag/nato")
    gone = feedparser.parse(service.anonymous.get("/feeds/tag/nato.rss").content)
    assert gone.bozo == 0 and gone.entries == []
    assert service.anonymous.get("/feeds/tag/never-used.rss").status_code == 404
    assert service.anonymous.get("/feeds/tag/never-used").status_code == 404


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian: apt install chromium)")
def test_the_feed_page_in_headless_chromium_shows_its_items(service, settings, tmp_path):
    seed = publish(service, "seed-article-published")["article"]
    with api_process(settings) as base:
        common = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                  "--window-size=390,844", f"--user-data-dir={tmp_path / 'profile'}"]
        # (the page has no script at all, and its CSP allows none: see the ASGI test)
        dom = subprocess.run([*common, "--dump-dom", base + "/feeds/tag/nato"],
                             capture_output=True, text=True, timeout=60, check=True).stdout
        doc = html.fromstring(dom)
        titles = [a.text for a in doc.get_element_by_id("items").iterfind(".//h3/a")]
        assert titles == [seed["title"]]
        shot = tmp_path / "feed.png"
        subprocess.run([*common, f"--screenshot={shot}", base + "/feeds/tag/nato"],
                       capture_output=True, timeout=60, check=True)
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 5_000
