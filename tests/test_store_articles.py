"""worker/store/articles.py, the articles' repository, on the private Redis (tests/conftest.py's
`db`; no worker needed): what one applied event writes, what the membership keeps, and
what a render and a feed's page read back. The rules themselves are tests/test_lifecycle.py's;
the pipeline around `apply` is tests/test_domain.py's and tests/test_pipeline.py's."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest

from feeds.article import ArticleEvent
from tests.support import load_fixture
from worker.social import NETWORKS
from worker.store import Store, keys
from worker.store.articles import TIMELINE_KEPT

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(db) -> Store:
    return Store(db, NETWORKS)


def event(article_id: str = "a-1", version: int = 1, kind: str = "article.published", **changes):
    if kind == "article.unpublished":
        payload = {"type": kind, "article": {"id": article_id, "version": version}}
    else:
        payload = copy.deepcopy(load_fixture("seed-article-published"))
        payload["type"] = kind
        payload["article"].update(
            {"id": article_id, "version": version, "url": f"https://n.example/{article_id}"}
        )
        payload["article"].update(changes)
    return ArticleEvent.from_payload(f"evt-{article_id}-{version}-{kind}", payload)


def small(article_id: str, hours: float, version: int = 1) -> ArticleEvent:
    """An article in `all` only, published `hours` after T0."""
    when = (T0 + timedelta(hours=hours)).isoformat()
    return event(
        article_id,
        version,
        sections=[],
        tags=[],
        authors=[],
        published_at=when,
        updated_at=(T0 + timedelta(hours=hours, minutes=version)).isoformat(),
    )


def test_a_first_publish_writes_the_article_its_membership_and_its_intents(store, db):
    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    first = event(tags=["NATO"], published_at=an_hour_ago, updated_at=an_hour_ago)
    applied = store.articles.apply(first, {"twitter": ("pending", "")}, traceparent="00-x")
    assert applied.outcome == "applied" and applied.first_publish
    stored = store.articles.get("a-1")
    assert stored is not None and stored["state"] == "published" and stored["version"] == "1"
    assert stored["feeds"] == list(applied.touched_feeds) and "tag/nato" in stored["feeds"]
    assert stored["last_event"] == first.event_id and stored["first_published_at"]
    assert [t["event"] for t in stored["timeline"]] == [first.event_id]
    assert store.articles.article("a-1") == first.article
    assert store.articles.url("a-1") == "https://n.example/a-1"
    assert store.articles.titles(["a-1", "unknown"]) == {"a-1": first.article.title}
    published = first.article.published_at.timestamp()
    for feed in stored["feeds"]:
        assert db.zscore(keys.items_key(feed), "a-1") == published
        assert store.articles.is_feed(feed)
        assert db.get(keys.version_key(feed)) == b"1"
    assert store.articles.count() == 1
    entry = store.outbox.entry("a-1", "twitter")
    assert entry["state"] == "pending" and entry["traceparent"] == "00-x"
    assert db.zscore(keys.NEWS_PUBLISHED, "a-1") is not None


def test_an_update_moves_the_membership_and_keeps_the_first_publish(store, db):
    store.articles.apply(event(tags=["NATO", "China"]), {"twitter": ("pending", "")})
    first_published = store.articles.get("a-1")["first_published_at"]
    db.delete(keys.entry_key("a-1", "twitter"))
    applied = store.articles.apply(
        event(version=2, kind="article.updated", tags=["NATO"]), {"twitter": ("pending", "")}
    )
    assert applied.outcome == "applied" and not applied.first_publish
    assert "tag/china" in applied.touched_feeds
    assert db.zscore(keys.items_key("tag/china"), "a-1") is None
    assert db.zscore(keys.items_key("tag/nato"), "a-1") is not None
    assert store.articles.get("a-1")["first_published_at"] == first_published
    assert store.outbox.entry("a-1", "twitter") == {}  # an update asks for no post
    assert "tag/china" in store.articles.all_feeds()
    assert "tag/china" not in store.articles.feeds_with_items()


def test_a_stale_event_writes_nothing(store, db):
    store.articles.apply(event(version=3))
    before = db.hgetall(keys.article_key("a-1"))
    applied = store.articles.apply(event(version=2, kind="article.updated", tags=["Late"]))
    assert applied.as_dict() == {
        "outcome": "stale",
        "state": "published",
        "feeds": [],
        "first_publish": False,
        "unpublished": False,
    }
    assert db.hgetall(keys.article_key("a-1")) == before
    assert not db.exists(keys.items_key("tag/late"))


def test_an_unpublish_takes_the_text_away_and_announces_the_retraction(store, db):
    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    store.articles.apply(event(published_at=an_hour_ago), {"twitter": ("pending", "")})
    assert db.zscore(keys.NEWS_PUBLISHED, "a-1") is not None
    applied = store.articles.apply(event(version=2, kind="article.unpublished"))
    assert applied.unpublished and applied.state == "unpublished"
    stored = store.articles.get("a-1")
    assert "doc" not in stored and stored["title"] and stored["url"]  # the audit trail stays
    assert store.articles.article("a-1") is None
    for feed in applied.touched_feeds:
        assert db.zscore(keys.items_key(feed), "a-1") is None
        assert db.zscore(keys.deleted_key(feed), "a-1") is not None
    assert store.outbox.entry("a-1", "twitter")["delete_requested"] == "1"
    assert db.zscore(keys.NEWS_PUBLISHED, "a-1") is None


def test_the_timeline_keeps_the_last_events_only(store):
    for version in range(1, TIMELINE_KEPT + 6):
        store.articles.apply(event(version=version, kind="article.updated"))
    timeline = store.articles.get("a-1")["timeline"]
    assert len(timeline) == TIMELINE_KEPT
    assert [t["version"] for t in timeline] == list(range(6, TIMELINE_KEPT + 6))


def test_a_backfill_bumps_the_feeds_versions_but_marks_nothing_for_the_renderers(store, db):
    applied = store.articles.apply(event(), defer_render=True)
    assert db.scard(keys.DIRTY) == 0
    for feed in applied.touched_feeds:
        assert db.get(keys.version_key(feed)) == b"1"


def test_the_membership_is_capped_and_a_trimmed_article_rejoins_when_there_is_room(db):
    store = Store(db, NETWORKS, feed_size=1)
    cap = store.articles.membership_cap
    assert cap == 101  # twice the feed, at least 100 more
    for n in range(cap + 1):
        store.articles.apply(small(f"m-{n:03d}", hours=n))
    assert store.articles.item_counts(["all"]) == [cap]
    assert db.zscore(keys.items_key("all"), "m-000") is None  # the oldest went
    store.articles.apply(small("m-000", hours=0, version=2))  # still the oldest: no room
    assert db.zscore(keys.items_key("all"), "m-000") is None
    newest = f"m-{cap:03d}"
    store.articles.apply(event(newest, version=2, kind="article.unpublished"))
    store.articles.apply(small("m-000", hours=0, version=3))
    assert db.zscore(keys.items_key("all"), "m-000") is not None
    assert store.articles.item_counts(["all"]) == [cap]


def test_a_render_reads_the_newest_items_the_recent_retractions_and_names_unreadable_docs(
    store, db
):
    for n in range(4):
        store.articles.apply(small(f"r-{n}", hours=n))
    db.hset(keys.article_key("r-2"), "doc", b"{not json")
    now = datetime.now(UTC).timestamp()
    db.zadd(keys.deleted_key("all"), {"recent": now - 60, "old": now - 7200})
    got = store.articles.for_render("all", limit=3, window_s=3600)
    assert got.version == 4
    assert [a.id for a in got.articles] == ["r-3", "r-1"]  # newest first, r-0 past the limit
    assert [article_id for article_id, _ in got.unreadable] == ["r-2"]
    assert [article_id for article_id, _ in got.deleted] == ["recent"]
    assert db.zscore(keys.deleted_key("all"), "old") is None  # dropped for good


def test_the_first_time_an_article_went_live_in_a_feed_is_kept(store):
    store.articles.mark_rendered("all", ["a-1", "a-2"], 1000.0)
    store.articles.mark_rendered("all", ["a-1"], 2000.0)
    store.articles.mark_rendered("tag/nato", ["a-1"], 3000.0)
    assert store.articles.first_rendered("a-1") == {"all": 1000.0, "tag/nato": 3000.0}
    store.articles.mark_rendered("all", [], 4000.0)  # nothing to mark: no call at all
    assert store.articles.first_rendered("a-2") == {"all": 1000.0}


def test_a_feeds_page_reads_past_what_the_feed_shows(store):
    for n in range(5):
        store.articles.apply(small(f"p-{n}", hours=n))
    total, page = store.articles.page_of("all", start=1, count=2)
    assert total == 5 and [a.id for a in page] == ["p-3", "p-2"]
    total, page = store.articles.page_of("all", start=4, count=10**6)
    assert total == 5 and [a.id for a in page] == ["p-0"]
    assert page[0].published_at == T0
