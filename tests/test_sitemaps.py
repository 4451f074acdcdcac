"""Sitemaps (CONTRACT §9): the Google News sitemap at /sitemaps/news.xml and the feed pages'
sitemap at /feeds/sitemap.xml, validated with lxml against the official XSDs (a copy is kept in
tests/schemas/news-sitemap/, so CI needs no ../shared)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree

from feeds.article import format_time
from feeds.sitemap import (
    NEWS,
    SITEMAP,
    URLS_MAX,
    NewsItem,
    news_language,
    news_sitemap,
    url_sitemap,
)
from tests.support import publish

SCHEMAS = Path(__file__).parent / "schemas" / "news-sitemap"
NS = {"s": SITEMAP, "n": NEWS}


@pytest.fixture(scope="module")
def news_schema() -> etree.XMLSchema:
    """sitemap.xsd and sitemap-news.xsd in one schema (the sitemap's `url` takes the news
    elements strictly, so both namespaces must be known)."""
    wrapper = f"""<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema">
      <xsd:import namespace="{SITEMAP}" schemaLocation="{(SCHEMAS / "sitemap.xsd").as_uri()}"/>
      <xsd:import namespace="{NEWS}" schemaLocation="{(SCHEMAS / "sitemap-news.xsd").as_uri()}"/>
    </xsd:schema>"""
    return etree.XMLSchema(etree.fromstring(wrapper.encode()))


def event(
    n: int,
    published: datetime,
    language: str | None = "en",
    kind: str = "published",
    version: int = 1,
    title: str | None = None,
) -> dict:
    article: dict = {"id": f"news-{n}", "version": version}
    if kind != "unpublished":
        article.update(
            url=f"https://news.example.org/story-{n}.html",
            title=title or f"Story {n} & more",
            published_at=format_time(published),
            updated_at=format_time(published + timedelta(seconds=version)),
        )
        if language:
            article["language"] = language
    return {
        "id": f"evt-news-{n}-{kind}-{version}",
        "type": f"article.{kind}",
        "occurred_at": format_time(datetime.now(UTC)),
        "article": article,
    }


def send_all(service, events: list[dict]) -> None:
    for e in events:
        assert service.send(e).status_code == 202
    for e in events:
        assert service.event_done(e["id"])["status"] == "done"


def parse(body: bytes, schema: etree.XMLSchema | None = None) -> etree._Element:
    root = etree.fromstring(body)
    if schema is not None:
        schema.assertValid(root)
    return root


def test_language_codes_as_google_wants_them():
    assert news_language("en-US") == "en" and news_language("EN") == "en"
    for tag in ("zh-TW", "zh-Hant", "zh-HK", "zh-Hant-CN", "zh_tw", "zh-MO"):
        assert news_language(tag) == "zh-tw", tag
    for tag in ("zh", "zh-CN", "zh-Hans", "zh-Hans-TW", "zh-SG"):
        assert news_language(tag) == "zh-cn", tag
    assert news_language("pt-BR") == "pt" and news_language("haw") == "haw"
    assert news_language(None, "es-VE") == "es"
    assert news_language("12-xx", "fr") == "fr" and news_language("", "") == "und"


def test_news_sitemap_lists_the_last_48_hours_newest_first_and_validates(service, news_schema):
    now = datetime.now(UTC).replace(microsecond=0)
    languages = ["en-US", "zh-TW", "zh-Hant", "zh-HK", "zh", "pt-BR", None]
    events = [event(i, now - timedelta(hours=i + 1), lang) for i, lang in enumerate(languages)]
    events.append(event(20, now - timedelta(hours=49)))  # older than two days: not news
    events.append(event(21, now + timedelta(minutes=5)))  # dated ahead: listed as live now
    send_all(service, events)
    r = service.anonymous.get("/sitemaps/news.xml")
    assert r.status_code == 200 and r.headers["content-type"] == "application/xml; charset=utf-8"
    assert r.headers["cache-control"] == "public, max-age=60"
    root = parse(r.content, news_schema)
    locs = root.xpath("s:url/s:loc/text()", namespaces=NS)
    assert locs == [f"https://news.example.org/story-{n}.html" for n in (21, 0, 1, 2, 3, 4, 5, 6)]
    assert root.xpath("s:url/n:news/n:publication/n:language/text()", namespaces=NS) == [
        "en",
        "en",
        "zh-tw",
        "zh-tw",
        "zh-tw",
        "zh-cn",
        "pt",
        "en",
    ]  # None: the site's
    assert set(root.xpath("//n:name/text()", namespaces=NS)) == {"Test Newsroom"}
    assert root.xpath("s:url[2]/n:news/n:title/text()", namespaces=NS) == ["Story 0 & more"]
    dates = root.xpath("s:url/n:news/n:publication_date/text()", namespaces=NS)
    assert dates[1] == format_time(now - timedelta(hours=1))
    assert abs(datetime.fromisoformat(dates[0]).timestamp() - time.time()) < 120
    assert dates == sorted(dates, reverse=True)


def test_an_update_keeps_the_first_date_and_a_retraction_leaves_at_once(service, news_schema):
    now = datetime.now(UTC).replace(microsecond=0)
    send_all(service, [event(1, now - timedelta(hours=2)), event(2, now - timedelta(hours=1))])
    first = service.anonymous.get("/sitemaps/news.xml")
    etag = first.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    again = service.anonymous.get("/sitemaps/news.xml", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    # The CMS moves published_at in an update: Google wants the first publication, kept.
    send_all(service, [event(1, now - timedelta(minutes=5), version=2, title="Retitled")])
    root = parse(service.anonymous.get("/sitemaps/news.xml").content, news_schema)
    assert root.xpath("s:url[2]/n:news/n:title/text()", namespaces=NS) == ["Retitled"]
    assert root.xpath("s:url[2]/n:news/n:publication_date/text()", namespaces=NS) == [
        format_time(now - timedelta(hours=2))
    ]
    send_all(service, [event(2, now, kind="unpublished", version=3)])
    # No render to wait for: the very next fetch no longer lists it.
    gone = service.anonymous.get("/sitemaps/news.xml", headers={"If-None-Match": etag})
    assert gone.status_code == 200 and gone.headers["etag"] != etag
    root = parse(gone.content, news_schema)
    assert root.xpath("s:url/s:loc/text()", namespaces=NS) == [
        "https://news.example.org/story-1.html"
    ]


def test_a_purged_article_leaves_and_the_sitemap_may_be_empty(service, settings):
    from worker.runtime import Runtime

    send_all(service, [event(7, datetime.now(UTC) - timedelta(minutes=1))])
    assert b"story-7" in service.anonymous.get("/sitemaps/news.xml").content
    assert Runtime(settings).store.purges.purge("news-7") is not None
    root = parse(service.anonymous.get("/sitemaps/news.xml").content)
    assert root.tag == f"{{{SITEMAP}}}urlset" and len(root) == 0  # Google accepts it empty


def test_at_most_1000_and_archives_never_listed(service, news_schema):
    from worker.store import news

    now = time.time()
    pipe = service.redis.pipeline()
    for i in range(1_005):
        news.published_in(
            pipe,
            f"bulk-{i}",
            datetime.fromtimestamp(now - 60 - i, UTC),
            f"https://news.example.org/bulk-{i}",
            f"Bulk {i}",
            "de-AT",
            now,
        )
    news.published_in(
        pipe,
        "archive",
        datetime(2020, 1, 1, tzinfo=UTC),
        "https://news.example.org/archive",
        "Archive",
        "en",
        now,
    )
    pipe.execute()
    root = parse(service.anonymous.get("/sitemaps/news.xml").content, news_schema)
    locs = root.xpath("s:url/s:loc/text()", namespaces=NS)
    assert len(locs) == 1_000 and locs[0].endswith("/bulk-0") and locs[-1].endswith("/bulk-999")
    assert "https://news.example.org/archive" not in locs
    assert set(root.xpath("//n:language/text()", namespaces=NS)) == {"de"}
    # The writer alone bounds it too, whatever it is given.
    items = [
        NewsItem(f"https://x.example/{i}", "t", datetime.fromtimestamp(i, UTC))
        for i in range(1_200)
    ]
    assert (
        etree.fromstring(news_sitemap(items, "P", "en")).xpath("count(s:url)", namespaces=NS)
        == 1_000
    )


def test_feed_pages_sitemap_lists_every_feed_page(service):
    publish(service, "seed-article-published")
    r = service.anonymous.get("/feeds/sitemap.xml")
    assert r.status_code == 200 and r.headers["content-type"] == "application/xml; charset=utf-8"
    schema = etree.XMLSchema(etree.parse(str(SCHEMAS / "sitemap.xsd")))
    root = parse(r.content, schema)
    locs = root.xpath("s:url/s:loc/text()", namespaces=NS)
    assert locs[:2] == ["http://feeds.test/feeds/", "http://feeds.test/feeds/all"]
    assert "http://feeds.test/feeds/tag/nato" in locs and len(locs) == len(set(locs)) == 9
    for loc in locs[1:]:  # every URL is a page that answers
        assert service.anonymous.get(loc).status_code == 200, loc
    etag = r.headers["etag"]
    assert (
        service.anonymous.get("/feeds/sitemap.xml", headers={"If-None-Match": etag}).status_code
        == 304
    )
    head = service.anonymous.head("/feeds/sitemap.xml")
    assert head.status_code == 200 and head.headers["content-length"] == str(len(r.content))


def test_a_plain_sitemap_stops_at_50000_urls():
    urls = [f"https://feeds.example/feeds/tag/t{i}" for i in range(URLS_MAX + 10)]
    root = etree.fromstring(url_sitemap(urls))
    assert len(root.findall(f"{{{SITEMAP}}}url")) == URLS_MAX
    assert root[0].text == f" {URLS_MAX} of {URLS_MAX + 10} URLs "
