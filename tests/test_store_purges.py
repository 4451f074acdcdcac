"""worker/store/purges.py, takedowns in the store, on a private Redis (`db`, which no worker
uses): what `purge` removes and keeps, in one transaction, and the audited `unpurge`. The
whole takedown (renders awaited, files, posts deleted) is tests/test_takedown.py's."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta

import pytest

from feeds.article import ArticleEvent
from tests.support import load_fixture
from worker.social import NETWORKS
from worker.store import Store, keys


@pytest.fixture
def store(db) -> Store:
    return Store(db, NETWORKS)


def published(article_id: str, version: int = 1, tags: tuple[str, ...] = ("NATO",)):
    payload = copy.deepcopy(load_fixture("seed-article-published"))
    recent = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    payload["article"].update(
        {
            "id": article_id,
            "version": version,
            "url": f"https://n.example/{article_id}",
            "tags": list(tags),
            "authors": [],
            "sections": [],
            "published_at": recent,
            "updated_at": recent,
        }
    )
    return ArticleEvent.from_payload(f"evt-{article_id}-{version}", payload), payload


def publish(store: Store, article_id: str, plan=None, tags: tuple[str, ...] = ("NATO",)) -> None:
    event, payload = published(article_id, tags=tags)
    store.events.accept(event.event_id, event.type, article_id, json.dumps(payload))
    store.articles.apply(event, plan or {})


def audit(db) -> list[dict]:
    return [json.loads(r) for r in db.lrange(keys.AUDIT, 0, -1)]


def test_an_unknown_article_is_not_purged_and_leaves_no_record(store, db):
    assert store.purges.purge("nobody") is None
    assert audit(db) == [] and not db.exists(keys.article_key("nobody"))


def test_a_purge_removes_the_article_everywhere_and_leaves_a_tombstone(store, db):
    plan = {"twitter": ("pending", ""), "facebook": ("skipped", "not wanted")}
    publish(store, "taken", plan, tags=("Only Here",))
    publish(store, "other")  # shares `all` and tag/nato, so those stay feeds
    store.outbox.update("taken", "twitter", state="sent", remote_id="1", payload='{"text": "x"}')
    store.articles.mark_rendered("all", ["taken"], 1000.0)
    stored = store.articles.get("taken")
    assert stored is not None

    record = store.purges.purge("taken")
    assert record is not None
    assert record["was"] == "published" and record["events_removed"] == 1
    assert record["removed_feeds"] == ["tag/only-here"]
    assert record["posts_to_delete"] == ["twitter"]  # the skipped network has no post
    assert audit(db) == [record]

    assert not db.exists(keys.items_key("tag/only-here"))
    assert "tag/only-here" not in store.articles.all_feeds()
    assert {"all", "tag/nato"} <= set(store.articles.all_feeds())
    for feed in ("all", "tag/nato"):
        assert db.zscore(keys.items_key(feed), "taken") is None
        assert db.zscore(keys.items_key(feed), "other") is not None
    assert not db.exists(keys.rendered_key("taken"))
    assert not db.exists(keys.event_key("evt-taken-1"))
    assert not db.exists(keys.article_events_key("taken"))
    assert db.zscore(keys.NEWS_PUBLISHED, "taken") is None

    tombstone = store.articles.get("taken")
    assert tombstone is not None and tombstone["state"] == "purged"
    assert set(tombstone) == {
        "version",
        "time",
        "first_published_at",
        "state",
        "feeds",
        "purged_at",
    }  # no text, title, URL or timeline
    assert tombstone["first_published_at"] == stored["first_published_at"]
    twitter = store.outbox.entry("taken", "twitter")
    assert twitter["delete_requested"] == "1" and twitter["remote_id"] == "1"
    assert "payload" not in twitter  # the words kept for the network go too


def test_a_standing_feed_stays_a_feed_when_the_purge_empties_it(store, db):
    publish(store, "alone", tags=())
    record = store.purges.purge("alone")
    assert record is not None and "all" in record["feeds"]
    assert record["removed_feeds"] == []
    assert store.articles.is_feed("all") and store.articles.item_counts(["all"]) == [0]


def test_a_second_purge_removes_what_is_left_and_says_so(store, db):
    publish(store, "twice")
    store.purges.purge("twice")
    again = store.purges.purge("twice")
    assert again is not None and again["was"] == "purged"
    assert again["events_removed"] == 0 and again["feeds"] == [] and again["posts_to_delete"] == []
    assert [r["action"] for r in audit(db)] == ["purge", "purge"]


def test_no_event_brings_a_purged_article_back_until_it_is_unpurged(store, db):
    publish(store, "back")
    store.purges.purge("back")
    newer, _ = published("back", version=5)
    assert store.articles.apply(newer).outcome == "purged"
    assert store.articles.get("back")["state"] == "purged"

    assert store.purges.unpurge("back", "court order lifted")
    assert not store.purges.unpurge("back", "again")  # no longer purged
    assert not store.purges.unpurge("never-purged", "why not")
    [unpurge, _purge] = audit(db)
    assert unpurge["action"] == "unpurge" and unpurge["reason"] == "court order lifted"

    older, _ = published("back", version=1)  # whatever its version
    applied = store.articles.apply(older, {"twitter": ("pending", "")})
    assert applied.outcome == "applied" and not applied.first_publish  # shared once already
    assert store.outbox.entry("back", "twitter") == {}
    assert store.articles.article("back") is not None
