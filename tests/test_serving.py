"""Feed serving: content types, conditional GET, HEAD, discovery links, 404s, OPML."""

from __future__ import annotations

from xml.etree import ElementTree as ET

import pytest

from tests.test_pipeline import publish


def test_content_types_etag_and_last_modified(service):
    publish(service, "seed-article-published")
    for fmt, mime in (("rss", "application/rss+xml"), ("atom", "application/atom+xml")):
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
    assert service.client.get("/feeds/tag/nato.rss",
                              headers={"If-Modified-Since": modified}).status_code == 304
    assert service.client.get("/feeds/tag/nato.rss",
                              headers={"If-None-Match": '"other"'}).status_code == 200


def test_a_change_gives_a_new_etag_and_an_unchanged_render_keeps_it(service):
    publish(service, "seed-article-published")
    before = service.feed("all", "atom").headers["etag"]
    publish(service, "seed-article-updated")
    after = service.feed("all", "atom").headers["etag"]
    assert after != before
    # Re-rendering the same content (e.g. a sweeper render) gives the same bytes and ETag.
    from worker.tasks import render_feed

    render_feed.apply_async(("all",))
    service.settle()
    import time

    time.sleep(0.5)
    assert service.feed("all", "atom").headers["etag"] == after


def test_head_has_headers_and_no_body(service):
    publish(service, "seed-article-published")
    r = service.client.head("/feeds/all.atom")
    assert r.status_code == 200
    assert r.headers["etag"] == service.feed("all", "atom").headers["etag"]
    assert r.content == b""


def test_websub_link_header_has_hub_and_one_self(service, fakes):
    publish(service, "seed-article-published")
    link = service.feed("all", "rss").headers["link"]
    assert f'<{fakes.hub.url}/>; rel="hub"' in link
    assert link.count('rel="self"') == 1
    assert '<http://feeds.test/feeds/all.rss>; rel="self"' in link


@pytest.mark.parametrize("path", [
    "/feeds/no-such-feed.rss", "/feeds/all.json", "/feeds/all", "/feeds/../all.rss",
    "/feeds/tag/..%2Fall.rss", "/feeds/tag%2Fnato.rss", "/feeds/tag/NATO.rss",
    "/feeds/" + "a" * 10_000 + ".rss", "/feeds/all%00.rss", "/feeds/tag/never-used.atom",
])
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
    urls = {o.get("xmlUrl") for o in ET.fromstring(service.client.get("/feeds.opml").content)
            .findall(".//outline")}
    assert urls == set()
