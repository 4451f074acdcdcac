"""Bytes are bounded per item and per feed, through the real worker: one huge article does not
bloat every feed it is in (it was 186 MB of Redis for one 507 KB event in 56 feeds)."""

from __future__ import annotations

import copy

import feedparser

from feeds.content import BODY_MAX_BYTES
from feeds.render import FEED_ITEMS_MAX_BYTES
from tests.support import load_fixture
from worker.store import keys


def _event(n: int, body: str, tags: list[str]) -> dict:
    event = copy.deepcopy(load_fixture("seed-article-published"))
    event["id"] = f"evt-bounds-{n}"
    event["article"].update(
        id=f"bounds-{n}",
        title=f"Long read number {n}",
        tags=tags,
        url=f"https://news.example.org/long/{n}.html",
        body_html=body,
        published_at=f"2023-07-13T{10 + n // 60:02d}:{n % 60:02d}:00Z",
        updated_at=f"2023-07-13T{10 + n // 60:02d}:{n % 60:02d}:00Z",
    )
    return event


def test_a_huge_body_goes_into_feeds_as_an_excerpt_with_a_link(service):
    paragraph = "<p>" + "A very long investigation, paragraph after paragraph. " * 40 + "</p>"
    body = paragraph * 200  # about 450 KB
    tags = [f"Topic {k}" for k in range(20)]
    event = _event(0, body, tags)
    assert service.send(event).status_code == 202
    service.event_done(event["id"])
    service.settle()
    record = service.client.get("/articles/bounds-0").json()
    assert len(record["feeds"]) >= 5
    total = 0
    for feed in record["feeds"]:
        for fmt in ("rss", "atom", "json"):
            size = service.redis.strlen(keys.body_key(feed["key"], fmt))
            assert 0 < size < 2 * BODY_MAX_BYTES, (feed["key"], fmt, size)
            total += size
    assert total < len(record["feeds"]) * 3 * 2 * BODY_MAX_BYTES  # not 3 × 450 KB per feed
    entry = feedparser.parse(service.feed("tag/topic-3", "atom").content).entries[0]
    content = entry.content[0].value
    assert "Continue reading" in content and event["article"]["url"] in content
    assert content.count("<p>") == content.count("</p>")  # the cut is closed properly


def test_a_feed_of_long_reads_stops_at_its_byte_budget(service):
    body = "<p>" + "Every word of a long read matters to someone. " * 850 + "</p>"  # ~40 KB
    for n in range(30):
        event = _event(n + 1, body, ["Long reads"])
        assert service.send(event).status_code == 202
    for n in range(30):
        service.event_done(f"evt-bounds-{n + 1}")
    service.settle()
    for fmt in ("rss", "atom", "json"):
        data = service.feed("tag/long-reads", fmt).content
        assert len(data) < FEED_ITEMS_MAX_BYTES + 64 * 1024, fmt
    parsed = feedparser.parse(service.feed("tag/long-reads", "atom").content)
    assert parsed.bozo == 0 and 10 < len(parsed.entries) < 30
    assert parsed.entries[0].title == "Long read number 30"  # the newest are the ones kept
