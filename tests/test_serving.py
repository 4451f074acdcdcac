"""Feed serving: content types, conditional GET, gzip, HEAD, discovery links, 404s, OPML,
the browser stylesheet."""

from __future__ import annotations

import gzip
import json
from xml.etree import ElementTree as ET

import pytest

from feeds.describe import item_id
from tests.support import load_fixture, publish
from worker.store import keys


def test_content_types_etag_and_last_modified(service):
    publish(service, "seed-article-published")
    for fmt, mime in (
        ("rss", "application/rss+xml"),
        ("atom", "application/atom+xml"),
        ("json", "application/feed+json"),
    ):
        r = service.feed("all", fmt)
        assert r.headers["content-type"] == f"{mime}; charset=utf-8"
        assert r.headers["etag"].startswith('"') and not r.headers["etag"].startswith("W/")
        assert r.headers["last-modified"].endswith("GMT")


def test_conditional_get_answers_304(service):
    publish(service, "seed-article-published")
    first = service.feed("tag/nato", "rss")
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    r = service.client.get("/feeds/tag/nato.rss", headers={"If-None-Match": etag})
    assert r.status_code == 304 and r.content == b""
    assert (
        service.client.get(
            "/feeds/tag/nato.rss", headers={"If-Modified-Since": modified}
        ).status_code
        == 304
    )
    assert (
        service.client.get("/feeds/tag/nato.rss", headers={"If-None-Match": '"other"'}).status_code
        == 200
    )


def test_a_change_gives_a_new_etag_and_an_unchanged_render_keeps_it(service):
    publish(service, "seed-article-published")
    before = service.feed("all", "atom").headers["etag"]
    publish(service, "seed-article-updated")
    after = service.feed("all", "atom").headers["etag"]
    assert after != before
    # Re-rendering the same content (e.g. a sweeper render) gives the same bytes and ETag.
    service.rerender("all")
    assert service.feed("all", "atom").headers["etag"] == after


ENCODINGS = [
    {"Accept-Encoding": "identity"},
    {"Accept-Encoding": "gzip"},
    {"Accept-Encoding": "br;q=1, gzip;q=0.8"},
    {"Accept-Encoding": "gzip;q=0"},
]


def test_head_carries_exactly_the_headers_of_get(service):
    """For every feed, format and encoding (and an empty feed that was never rendered)."""
    publish(service, "seed-article-published")
    service.redis.delete(keys.meta_key("audio"))  # as on a fresh install
    for key in ("all", "tag/nato", "section/news/lithuania", "audio"):
        for fmt in ("rss", "atom", "json"):
            for headers in ENCODINGS:
                head = service.client.head(f"/feeds/{key}.{fmt}", headers=headers)
                with service.client.stream("GET", f"/feeds/{key}.{fmt}", headers=headers) as get:
                    raw = b"".join(get.iter_raw())
                    get_headers = dict(get.headers)
                assert head.status_code == get.status_code == 200
                drop = {"date"}
                assert {k: v for k, v in head.headers.items() if k not in drop} == {
                    k: v for k, v in get_headers.items() if k not in drop
                }, (key, fmt, headers)
                assert head.content == b"" and int(get_headers["content-length"]) == len(raw)
                assert get_headers["vary"] == "Accept, Accept-Encoding"


IDENTITY = {"Accept-Encoding": "identity"}


def test_gzip_when_asked_with_its_own_etag(service):
    publish(service, "seed-article-published")
    plain = service.client.get("/feeds/all.rss", headers=IDENTITY)
    assert (
        "content-encoding" not in plain.headers
        and plain.headers["vary"] == "Accept, Accept-Encoding"
    )
    with service.client.stream(
        "GET", "/feeds/all.rss", headers={"Accept-Encoding": "br;q=1, gzip;q=0.8"}
    ) as r:
        raw = b"".join(r.iter_raw())
        zipped = r.headers
    assert zipped["content-encoding"] == "gzip"
    assert gzip.decompress(raw) == plain.content
    assert zipped["etag"] != plain.headers["etag"] and zipped["etag"].startswith('"')
    assert int(zipped["content-length"]) == len(raw) < len(plain.content)
    for tag in (zipped["etag"], plain.headers["etag"]):
        assert (
            service.client.get(
                "/feeds/all.rss", headers={"If-None-Match": tag, "Accept-Encoding": "gzip"}
            ).status_code
            == 304
        )
    refused = service.client.get("/feeds/all.rss", headers={"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers


def test_json_feed_is_served_with_the_same_items(service):
    publish(service, "seed-article-published")
    doc = json.loads(service.feed("tag/nato", "json").content)
    assert doc["version"] == "https://jsonfeed.org/version/1.1"
    seed = load_fixture("seed-article-published")["article"]
    assert [item["url"] for item in doc["items"]] == [seed["url"]]
    assert doc["items"][0]["id"] == item_id(seed["id"])
    assert (
        service.feed("tag/nato", "json")
        .headers["link"]
        .endswith('<http://feeds.test/feeds/tag/nato.json>; rel="self"')
    )


def test_the_stylesheet_the_feeds_name_is_served(service):
    publish(service, "seed-article-published")
    body = service.feed("section/news/lithuania", "rss").content
    assert b'<?xml-stylesheet type="text/xsl" href="../../style.xsl"?>' in body
    r = service.client.get("/feeds/style.xsl")  # /feeds/section/news/ + ../../style.xsl
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/xsl")
    assert b"<xsl:stylesheet" in r.content


def test_websub_link_header_has_hub_and_one_self(service, fakes):
    publish(service, "seed-article-published")
    link = service.feed("all", "rss").headers["link"]
    assert f'<{fakes.hub.url}/>; rel="hub"' in link
    assert link.count('rel="self"') == 1
    assert '<http://feeds.test/feeds/all.rss>; rel="self"' in link


@pytest.mark.parametrize(
    "path",
    [
        "/feeds/no-such-feed.rss",
        "/feeds/all.xml",
        "/feeds/../all.rss",
        "/feeds/tag/never-used",
        "/feeds/tag/..%2Fall.rss",
        "/feeds/tag%2Fnato.rss",
        "/feeds/tag/NEVER-USED.rss",
        "/feeds/" + "a" * 10_000 + ".rss",
        "/feeds/all%00.rss",
        "/feeds/tag/never-used.atom",
    ],
)
def test_unknown_keys_are_404(service, path):
    publish(service, "seed-article-published")
    assert service.client.get(path).status_code == 404


def test_opml_lists_every_feed_with_items(service):
    publish(service, "seed-article-published")
    r = service.client.get("/feeds.opml")
    assert r.status_code == 200
    outlines = ET.fromstring(r.content).findall(".//outline")
    urls = {o.get("xmlUrl") for o in outlines}
    assert "http://feeds.test/feeds/section/news/lithuania.atom" in urls
    assert "http://feeds.test/feeds/tag/nato.rss" in urls
    publish(service, "seed-article-unpublished")
    urls = {
        o.get("xmlUrl")
        for o in ET.fromstring(service.client.get("/feeds.opml").content).findall(".//outline")
    }
    assert urls == set()
