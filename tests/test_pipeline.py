"""Events through the real worker into feeds, read back the way feed readers read them."""

from __future__ import annotations

import copy

from feeds.describe import item_id
from tests.support import load_fixture, parsed, publish

SEED_FEEDS = ["all", "section/news", "section/news/lithuania", "tag/nato", "author/news-desk"]


def test_seed_article_reaches_all_five_feeds_in_every_format(service):
    seed = publish(service, "seed-article-published")
    article = seed["article"]
    for key in SEED_FEEDS:
        for fmt in ("rss", "atom"):
            feed = parsed(service, key, fmt)
            assert len(feed.entries) == 1
            entry = feed.entries[0]
            assert entry.title == article["title"]
            assert entry.link == article["url"]
            assert entry.id == item_id(article["id"])
            assert "military alliance" in entry.summary
            assert entry.published_parsed[:5] == (2023, 7, 13, 18, 0)
            # RSS categories carry the name; Atom's carry the slug as term, the name as label
            names = {t.term if fmt == "rss" else t.label for t in entry.tags}
            assert names >= {"NATO", "Ukraine"}, (key, fmt, names)
            assert entry.author == "News Desk"
            assert entry.media_content[0]["url"] == article["image"]["url"]
        items = service.feed(key, "json").json()["items"]
        assert [(i["id"], i["title"], i["url"]) for i in items] == [
            (item_id(article["id"]), article["title"], article["url"])
        ]
        assert {"NATO", "Ukraine"} <= set(items[0]["tags"])


def test_update_keeps_the_guid_and_changes_the_title(service):
    publish(service, "seed-article-published")
    update = publish(service, "seed-article-updated")
    for key in SEED_FEEDS:
        for fmt in ("rss", "atom"):
            entries = parsed(service, key, fmt).entries
            assert [e.title for e in entries] == [update["article"]["title"]]
            assert entries[0].id == item_id(update["article"]["id"])


def test_unpublish_removes_it_from_every_feed(service):
    publish(service, "seed-article-published")
    publish(service, "seed-article-unpublished")
    for key in SEED_FEEDS + ["tag/ukraine", "tag/china", "tag/lithuania"]:
        for fmt in ("rss", "atom"):
            assert parsed(service, key, fmt).entries == []
    article = service.client.get("/articles/20230713-0001").json()
    assert article["state"] == "unpublished"
    assert article["feeds"] == []


def test_audio_programme_is_in_the_audio_feed_with_its_enclosure(service):
    event = publish(service, "audio-programme-published")
    audio = event["article"]["audio"]
    for fmt in ("rss", "atom"):
        feed = parsed(service, "audio", fmt)
        assert [e.title for e in feed.entries] == [event["article"]["title"]]
        enclosure = feed.entries[0].enclosures[0]
        assert enclosure["href"] == audio["url"]
        assert int(enclosure["length"]) == audio["length"]
        assert enclosure["type"] == "audio/mpeg"
    assert parsed(service, "section/audio-only", "rss").entries
    # Not in feeds of articles without audio:
    publish(service, "seed-article-published")
    assert len(parsed(service, "audio", "rss").entries) == 1


def test_hostile_article_feeds_parse_and_carry_nothing_executable(service):
    event = publish(service, "hostile-article-published")
    keys = [
        "all",
        "section/news",
        "tag/cote-d-ivoire",
        "tag/sao-paulo",
        "tag/bei-jing--68c77e1551",
        "tag/c-plus-plus-rust",
    ]
    for key in keys:
        for fmt in ("rss", "atom"):
            raw = service.feed(key, fmt).content
            feed = parsed(service, key, fmt)
            entry = feed.entries[0]
            assert entry.title.startswith("Breaking:")
            assert "\x00" not in entry.title and "\u202e" not in entry.title
            for text in (entry.summary, entry.get("content", [{"value": ""}])[0]["value"]):
                lowered = text.lower()
                assert "<script" not in lowered and "onerror" not in lowered
                assert "onclick" not in lowered and "<iframe" not in lowered
            assert b"<script" not in raw.lower()
    assert event["article"]["id"] == "hostile-0001"


def test_duplicate_delivery_has_one_effect(service):
    seed = load_fixture("seed-article-published")
    assert service.send(seed).status_code == 202
    service.event_done(seed["id"])
    # The same content again under another event id (a CMS retry with a new id):
    again = copy.deepcopy(seed)
    again["id"] = "evt_seed_again"
    assert service.send(again).status_code == 202
    assert service.event_done("evt_seed_again")["result"]["outcome"] == "duplicate"
    service.settle()
    assert len(parsed(service, "all", "atom").entries) == 1


def test_out_of_order_update_before_publish_keeps_the_newer_state(service):
    publish(service, "seed-article-updated")  # v2 arrives first
    late = load_fixture("seed-article-published")  # v1 arrives late
    assert service.send(late).status_code == 202
    assert service.event_done(late["id"])["result"]["outcome"] == "stale"
    service.settle()
    entries = parsed(service, "all", "rss").entries
    assert [e.title for e in entries] == [
        "NATO Summit in Lithuania Ends Amid Division Over Ukraine"
    ]


def test_late_update_does_not_undo_an_unpublish(service):
    publish(service, "seed-article-published")
    publish(service, "seed-article-unpublished")  # v3
    late = load_fixture("seed-article-updated")  # v2, late
    assert service.send(late).status_code == 202
    assert service.event_done(late["id"])["result"]["outcome"] == "stale"
    service.settle()
    assert parsed(service, "all", "atom").entries == []


def test_without_versions_updated_at_decides(service):
    newer = load_fixture("seed-article-updated")
    older = load_fixture("seed-article-published")
    for event in (newer, older):
        del event["article"]["version"]
    assert service.send(newer).status_code == 202
    service.event_done(newer["id"])
    assert service.send(older).status_code == 202
    assert service.event_done(older["id"])["result"]["outcome"] == "stale"
    service.settle()
    assert parsed(service, "all", "atom").entries[0].title == newer["article"]["title"]


def test_feed_is_newest_first_and_capped_at_feed_size(service, settings):
    base = load_fixture("seed-article-published")
    for n in range(settings.feed_size + 3):
        event = copy.deepcopy(base)
        event["id"] = f"evt-cap-{n}"
        event["article"]["id"] = f"cap-{n}"
        event["article"]["title"] = f"Story {n}"
        event["article"]["published_at"] = f"2024-01-01T00:{n // 60:02d}:{n % 60:02d}Z"
        event["article"]["share"]["networks"] = []
        assert service.send(event).status_code == 202
    for n in range(settings.feed_size + 3):
        service.event_done(f"evt-cap-{n}")
    service.settle()
    titles = [e.title for e in parsed(service, "all", "atom").entries]
    assert len(titles) == settings.feed_size
    assert titles[0] == f"Story {settings.feed_size + 2}"
    assert titles[-1] == "Story 3"
