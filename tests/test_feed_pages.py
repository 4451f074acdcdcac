"""Feeds for people and for discovery: the HTML page of each feed, the `/feeds/` index, the
OPML, the `<link rel="alternate">` tags an article page carries, and known feeds that have no
items yet. Over ASGI, and the page in headless Chromium."""

from __future__ import annotations

import json
import shutil
import subprocess
import xml.etree.ElementTree as ET

import feedparser
import feedparser.http
import pytest
from lxml import html

from tests.support import SEED_ID, api_process, load_fixture, publish
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
    # One script, our own file (the copy buttons); the CSP allows no other.
    assert [s.get("src") for s in doc.iter("script")] == ["/copy.js"]
    assert "script-src 'self'" in r.headers["content-security-policy"]
    # Each XML feed names the page as its alternate.
    atom = feedparser.parse(service.feed("tag/nato", "atom").content)
    assert atom.feed.link == "http://feeds.test/feeds/tag/nato"


def test_the_index_lists_every_feed_with_its_item_count_and_opml_has_titles_and_json(service):
    publish(service, "seed-article-published")
    doc = html.fromstring(service.anonymous.get("/feeds/").content)
    rows = {
        tr.find("td/a").text: tr.findall("td")[1].text
        for tr in doc.get_element_by_id("feeds").iter("tr")
        if tr.find("td") is not None
    }
    assert rows["Test Newsroom: NATO"] == "1" and rows["Test Newsroom"] == "1"
    outlines = ET.fromstring(service.anonymous.get("/feeds.opml").content).findall(".//outline")
    by_url = {o.get("xmlUrl"): o.get("title") for o in outlines}
    assert by_url["http://feeds.test/feeds/tag/nato.json"] == "Test Newsroom: NATO (JSON Feed)"
    assert by_url["http://feeds.test/feeds/tag/nato.rss"] == "Test Newsroom: NATO (RSS)"


def test_share_links_carry_the_alternate_tags_of_the_articles_feeds(service):
    publish(service, "seed-article-published")
    body = service.anonymous.get(f"/articles/{SEED_ID}/share-links").json()
    tags = {a["html"] for a in body["alternates"]}
    assert (
        '<link rel="alternate" type="application/rss+xml" title="Test Newsroom: NATO" '
        'href="http://feeds.test/feeds/tag/nato.rss">'
    ) in tags
    assert {a["feed"] for a in body["alternates"]} >= {
        "section/news",
        "tag/nato",
        "author/news-desk",
    }
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


@pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (Debian: apt install chromium)"
)
def test_the_feed_page_in_headless_chromium_shows_its_items(service, settings, tmp_path):
    seed = publish(service, "seed-article-published")["article"]
    with api_process(settings) as base:
        common = [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--window-size=390,844",
            f"--user-data-dir={tmp_path / 'profile'}",
        ]
        # (the page has no script at all, and its CSP allows none: see the ASGI test)
        dom = subprocess.run(
            [*common, "--dump-dom", base + "/feeds/tag/nato"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        doc = html.fromstring(dom)
        titles = [a.text for a in doc.get_element_by_id("items").iterfind(".//h3/a")]
        assert titles == [seed["title"]]
        shot = tmp_path / "feed.png"
        subprocess.run(
            [*common, f"--screenshot={shot}", base + "/feeds/tag/nato"],
            capture_output=True,
            timeout=60,
            check=True,
        )
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 5_000


# Issue #26 item 1: one URL, two representations ------------------------------------------------
# The Accept headers real clients send (their sources, read for this test):
READERS = {
    # feedparser (and every reader built on it): feedparser/http.py ACCEPT_HEADER
    "feedparser": feedparser.http.ACCEPT_HEADER,
    # Miniflux: internal/reader/fetcher/request_builder.go defaultAcceptHeader (text/html at q=1,
    # tied with the feed types: a tie is a reader's)
    "miniflux": "application/xml, application/atom+xml, application/rss+xml, application/rdf+xml, "
    "application/feed+json, text/html, */*;q=0.9",
    # SimplePie (FreshRSS, WordPress): SimplePie/File.php and Locator.php
    "simplepie/freshrss": "application/atom+xml, application/rss+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, text/html;q=0.7, "
    "unknown/unknown;q=0.1, application/unknown;q=0.1, */*;q=0.1",
    # reader's JSON Feed parser (reader/_parser/jsonfeed.py), merged with feedparser's
    "reader (json)": "application/feed+json,application/json;q=0.9",
    # curl and libcurl readers (newsboat), XMLHttpRequest (Thunderbird's feed downloader),
    # hubs and fetchers that set none (Feedly, Inoreader document only their User-Agent)
    "curl/newsboat/thunderbird": "*/*",
    "none": None,
}
BROWSERS = {
    "chromium": "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7",
    "firefox": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "safari": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
}


def _get(service, path: str, accept: str | None, **headers: str):
    sent = {"Accept-Encoding": "identity", **headers}
    if accept is not None:
        sent["Accept"] = accept
    else:  # httpx adds `Accept: */*` unless told otherwise
        sent["Accept"] = ""
    return service.anonymous.get(path, headers=sent)


def test_readers_get_the_exact_bytes_and_browsers_the_page_at_the_same_url(service):
    seed = publish(service, "seed-article-published")["article"]
    for fmt in ("rss", "atom", "json"):
        path = f"/feeds/tag/nato.{fmt}"
        stored = service.client.app.state.runtime.store.feeds.bodies("tag/nato")[fmt]
        tags = set()
        for name, accept in READERS.items():
            r = _get(service, path, accept)
            assert r.status_code == 200 and r.content == stored, (fmt, name)
            assert r.headers["content-type"].startswith("application/"), (fmt, name)
            assert r.headers["vary"] == "Accept, Accept-Encoding", (fmt, name)
            tags.add(r.headers["etag"])
            again = _get(service, path, accept, **{"If-None-Match": r.headers["etag"]})
            assert again.status_code == 304 and again.headers["vary"] == "Accept, Accept-Encoding"
        assert len(tags) == 1, (fmt, tags)  # the feed's one ETag, whoever asks
        feed_tag = tags.pop()
        for name, accept in BROWSERS.items():
            page = _get(service, path, accept)
            assert page.status_code == 200, (fmt, name)
            assert page.headers["content-type"].startswith("text/html"), (fmt, name)
            assert page.headers["vary"] == "Accept, Accept-Encoding"
            assert page.headers["etag"] != feed_tag and page.headers["etag"].startswith('"')
            doc = html.fromstring(page.content)
            assert "What is a feed?" in doc.text_content()
            assert doc.get_element_by_id("opened") is not None
            assert [a.text for a in doc.get_element_by_id("items").iterfind(".//h3/a")] == [
                seed["title"]
            ]
            # Each representation revalidates with its own ETag only.
            same = _get(service, path, accept, **{"If-None-Match": page.headers["etag"]})
            assert same.status_code == 304
            crossed = _get(service, path, accept, **{"If-None-Match": feed_tag})
            assert crossed.status_code == 200 and crossed.headers["content-type"].startswith(
                "text/html"
            )
            other = _get(
                service, path, READERS["feedparser"], **{"If-None-Match": page.headers["etag"]}
            )
            assert other.status_code == 200 and other.content == stored
            head = service.anonymous.head(path, headers={"Accept": accept})
            assert head.headers["etag"] == page.headers["etag"] and head.content == b""
    # q-values decide, not the order of the list.
    assert (
        _get(service, "/feeds/all.rss", "application/rss+xml, text/html;q=0.5")
        .headers["content-type"]
        .startswith("application/rss+xml")
    )
    assert (
        _get(service, "/feeds/all.rss", "application/rss+xml;q=0.4, text/html;q=0.9")
        .headers["content-type"]
        .startswith("text/html")
    )
    assert (
        _get(service, "/feeds/all.rss", "text/html;q=0")
        .headers["content-type"]
        .startswith("application/rss+xml")
    )
    assert (
        _get(service, "/feeds/all.rss", "text/html;q=abc," * 500)
        .headers["content-type"]
        .startswith("application/rss+xml")
    )  # hostile: bounded, bad q is 0


def test_a_feed_key_typed_in_capitals_is_moved_to_the_slugs_own_path(service):
    publish(service, "seed-article-published")
    moved = {
        "/feeds/tag/NATO.rss": "/feeds/tag/nato.rss",
        "/feeds/Tag/Nato": "/feeds/tag/nato",
        "/feeds/tag/nato.RSS": "/feeds/tag/nato.rss",
        "/feeds/ALL.atom": "/feeds/all.atom",
        "/feeds/Section/News.json": "/feeds/section/news.json",
        "/feeds/tag/NATO.rss?next=//evil.example": "/feeds/tag/nato.rss",
    }
    for path, location in moved.items():
        r = service.anonymous.get(path, follow_redirects=False)
        assert r.status_code == 301 and r.headers["location"] == location, path
    assert (
        service.anonymous.get("/feeds/tag/NATO.rss").content
        == service.anonymous.get("/feeds/tag/nato.rss").content
    )
    for path in (
        "/feeds/tag/NEVER-USED.rss",
        "/feeds/tag/NATO@evil.example.rss",
        "/feeds//evil.example/x.rss",
        "/feeds/%2F%2Fevil.example.rss",
        "/feeds/tag/NATO.exe",
        "/feeds/" + "A" * 5000 + ".rss",
    ):
        r = service.anonymous.get(path, follow_redirects=False)
        assert r.status_code == 404, path
        assert "location" not in r.headers


# Issue #26 item 6: the pages' parts -----------------------------------------------------------
def test_feed_pages_show_whole_urls_copy_buttons_images_with_credits_and_play_audio(service):
    seed = publish(service, "seed-article-published")["article"]
    audio = publish(service, "audio-programme-published")["article"]
    r = service.anonymous.get("/feeds/tag/nato")
    assert "media-src 'self' https:" in r.headers["content-security-policy"]
    doc = html.fromstring(r.content)
    codes = {c.get("id"): c.text for c in doc.get_element_by_id("subscribe").iter("code")}
    assert codes == {
        f"url-{f}": f"http://feeds.test/feeds/tag/nato.{f}" for f in ("rss", "atom", "json")
    }
    buttons = [b.get("data-copy") for b in doc.get_element_by_id("subscribe").iter("button")]
    assert buttons == ["url-rss", "url-atom", "url-json"]
    alternates = [link.get("href") for link in doc.iter("link") if link.get("rel") == "alternate"]
    assert alternates == list(codes.values())
    figure = doc.get_element_by_id("items").find(".//figure")
    img, image = figure.find("img"), seed["image"]
    assert (img.get("src"), img.get("alt"), img.get("width"), img.get("height")) == (
        image["url"],
        image["caption"],
        str(image["width"]),
        str(image["height"]),
    )
    caption = " ".join(figure.find("figcaption").text_content().split())
    assert image["caption"] in caption and image["credit"] in caption
    player = html.fromstring(service.anonymous.get("/feeds/audio").content).find(".//audio")
    assert player.get("src") == audio["audio"]["url"] and player.get("preload") == "none"
    assert player.get("controls") is not None
    episode = html.fromstring(service.anonymous.get("/feeds/audio").content).find_class("episode")
    assert "30:20" in episode[0].text_content() and "MP3, 14.6 MB" in episode[0].text_content()
    script = service.anonymous.get("/copy.js")
    assert script.status_code == 200 and "clipboard" in script.text
    assert script.headers["content-type"].startswith("text/javascript")


def _backfill(service, count: int, tag: str) -> list[str]:
    """`count` articles tagged `tag`, one a minute, straight through the backfill path."""
    from worker.ops import BackfillReport, backfill_line

    rt = service.client.app.state.runtime
    event, titles, report = load_fixture("seed-article-published"), [], BackfillReport()
    for i in range(count):
        article = {
            **event["article"],
            "id": f"page-{i:03d}",
            "title": f"Page test {i:03d}",
            "url": f"https://news.example.org/page-{i:03d}",
            "tags": [tag],
            "sections": [],
            "authors": [],
            "audio": None,
            "published_at": f"2023-07-13T{10 + i // 60:02d}:{i % 60:02d}:00Z",
        }
        article = {k: v for k, v in article.items() if v is not None}
        backfill_line(
            rt, i + 1, json.dumps({**event, "id": f"evt-page-{i:03d}", "article": article}), report
        )
        titles.append(article["title"])
    assert report.applied == count, report.rejected
    return titles[::-1]  # newest first


def test_a_feed_page_pages_back_past_what_the_feed_holds(service):
    titles = _backfill(service, 60, "Paging")  # the feed holds 50 (SYNDICATE_FEED_SIZE)
    seen = []
    for number in (1, 2, 3):
        r = service.anonymous.get(f"/feeds/tag/paging?page={number}")
        assert r.status_code == 200, number
        doc = html.fromstring(r.content)
        seen += [a.text for a in doc.get_element_by_id("items").iterfind(".//h3/a")]
        nav = " ".join(doc.get_element_by_id("pages").text_content().split())
        assert f"page {number} of 3" in nav and "60 articles" in nav
    assert seen == titles
    older = html.fromstring(service.anonymous.get("/feeds/tag/paging").content)
    assert older.find(".//a[@rel='next']").get("href") == "/feeds/tag/paging?page=2"
    assert service.anonymous.get("/feeds/tag/paging?page=4").status_code == 404
    for garbage in ("0", "-1", "x", "9" * 40):
        assert service.anonymous.get(f"/feeds/tag/paging?page={garbage}").status_code == 400


def test_the_index_groups_sections_tags_and_authors_with_article_counts(service):
    publish(service, "seed-article-published")
    publish(service, "audio-programme-published")
    doc = html.fromstring(service.anonymous.get("/feeds/").content)
    table = doc.get_element_by_id("feeds")
    groups, rows, current = [], {}, None
    for tr in table.iter("tr"):
        if tr.get("class") == "group":
            current = tr.text_content().strip()
            groups.append(current)
        elif tr.find("td") is not None:
            rows[tr.find("td/a").get("href").removeprefix("http://feeds.test/feeds/")] = (
                current,
                tr.findall("td")[1].text,
            )
    assert groups == ["Main feeds", "Sections", "Tags", "Authors"]
    assert rows["all"] == ("Main feeds", "2") and rows["audio"] == ("Main feeds", "1")
    assert rows["tag/nato"][0] == "Tags" and rows["section/news"][0] == "Sections"
    assert all(group == "Authors" for key, (group, _) in rows.items() if key.startswith("author/"))
