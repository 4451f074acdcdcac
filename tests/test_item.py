"""feeds.item: one neutral item per article, and every writer writes that item (pure, no I/O)."""

from __future__ import annotations

import json

import feedparser

from feeds.article import ArticleEvent
from feeds.describe import Site, describe, item_id
from feeds.item import item_of
from feeds.render import render
from tests.support import load_fixture

SITE = Site(
    title="Daily",
    description="News",
    url="https://news.example.org",
    language="en",
    public_url="https://feeds.example.org",
)


def _article(name: str):
    payload = load_fixture(name)
    return ArticleEvent.from_payload(payload["id"], payload).article


def test_the_item_carries_every_part_of_the_news_page():
    article = _article("seed-article-published")
    item = item_of(article, SITE.url)
    assert item.id == item_id(article.id) and item.link == article.url
    assert [(c.term, c.label) for c in item.categories][:2] == [
        ("news", "News"),
        ("news/lithuania", "Lithuania"),
    ]  # the breadcrumb, every level
    assert {c.scheme for c in item.categories} == {
        "https://news.example.org/section/",
        "https://news.example.org/tag/",
    }
    assert item.image is not None and item.image.caption and "<figcaption>" in item.content_html
    assert item.authors[0].name == "News Desk"


def test_a_category_term_is_the_slug_of_the_feed_it_names():
    item = item_of(_article("hostile-article-published"), SITE.url)
    terms = {c.label: c.term for c in item.categories}
    assert terms["北京"] == "bei-jing--68c77e1551"  # the feed tag/bei-jing--68c77e1551


def test_every_format_writes_the_same_items():
    articles = [_article("seed-article-published"), _article("audio-programme-published")]
    bodies = render(describe("all", SITE, articles), articles).bodies()
    atom = feedparser.parse(bodies["atom"]).entries
    rss = feedparser.parse(bodies["rss"]).entries
    items = json.loads(bodies["json"])["items"]
    for n, article in enumerate(articles):
        item = item_of(article, SITE.url)
        assert atom[n].id == rss[n].id == items[n]["id"] == item.id
        assert atom[n].link == rss[n].link == items[n]["url"] == item.link
        assert atom[n].title == rss[n].title == items[n]["title"] == item.title
        labels = [c.label for c in item.categories]
        assert [t.label for t in atom[n].tags] == labels
        assert [t.term for t in rss[n].tags] == labels
        assert items[n]["tags"] == list(dict.fromkeys(labels))
        assert items[n]["content_html"] == item.content_html
