"""feeds/lifecycle.py `decide`: what one event does to an article, whatever order the events
arrive in. Pure: no store, no worker (tests/test_domain.py has the first cases; these add the
orderings, the finality of a retraction and of a purge).

`replay` plays events through `decide` the way the store does (worker/store/articles.py keeps
state, version, time, feeds and the first publish of an applied change), so a sequence of
arrivals can be checked end to end without Redis."""

from __future__ import annotations

import copy
import itertools
from datetime import UTC, datetime, timedelta

import pytest

from feeds.article import ArticleEvent
from feeds.lifecycle import Change, Stored, decide
from tests.support import load_fixture

T0 = datetime(2023, 7, 13, 18, 0, tzinfo=UTC)


def publish(version: int | None, tags: list[str] | None = None, at: datetime | None = None):
    payload = copy.deepcopy(load_fixture("seed-article-published"))
    payload["type"] = "article.published" if version in (None, 1) else "article.updated"
    article = payload["article"]
    article["version"] = version
    if version is None:
        del article["version"]
    if tags is not None:
        article["tags"] = tags
    article["updated_at"] = (at or T0 + timedelta(minutes=version or 0)).isoformat()
    return ArticleEvent.from_payload(f"publish-{version}", payload)


def unpublish(version: int | None, at: datetime | None = None) -> ArticleEvent:
    article: dict = {"id": "20230713-0001"}
    if version is not None:
        article["version"] = version
    if at is not None:
        article["updated_at"] = at.isoformat()
    payload = {"id": f"unpublish-{version}", "type": "article.unpublished", "article": article}
    return ArticleEvent.from_payload(payload["id"], payload)


def replay(events: list[ArticleEvent], stored: Stored | None = None):
    """Every event through `decide`, the store's state carried along: (final state, changes)."""
    changes: list[Change] = []
    for event in events:
        change = decide(stored, event)
        changes.append(change)
        if change.outcome == "applied":
            first = stored.first_published_at if stored is not None else None
            stored = Stored(
                state=change.state,
                version=event.version,
                time=event.updated_at,
                feeds=change.feeds,
                first_published_at="shared" if change.first_publish else first,
            )
    return stored, changes


# Ordering by version ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "order", list(itertools.permutations(range(4))), ids=lambda o: "".join(map(str, o))
)
def test_any_arrival_order_ends_in_the_newest_version_and_shares_at_most_once(order):
    history = [publish(1), publish(2, tags=["Baltics"]), unpublish(3), publish(4, tags=["NATO"])]
    stored, changes = replay([history[i] for i in order])
    assert stored is not None
    assert (stored.state, stored.version) == ("published", 4)
    assert "tag/nato" in stored.feeds and "tag/baltics" not in stored.feeds
    assert sum(c.first_publish for c in changes) <= 1
    # Whatever arrives after version 4 changes nothing.
    later = [c.outcome for i, c in zip(order, changes) if order.index(3) < order.index(i)]
    assert set(later) <= {"stale"}


def test_the_version_decides_even_against_an_older_updated_at():
    newer_version_older_clock = publish(5, tags=["Ukraine"], at=T0 - timedelta(days=1))
    stored, changes = replay([publish(4, at=T0), newer_version_older_clock])
    assert changes[1].outcome == "applied" and stored is not None and stored.version == 5
    assert stored.feeds == changes[1].feeds and "tag/ukraine" in stored.feeds


def test_without_versions_the_later_updated_at_wins():
    stored, changes = replay(
        [publish(None, tags=["A"], at=T0 + timedelta(hours=1)), publish(None, tags=["B"], at=T0)]
    )
    assert [c.outcome for c in changes] == ["applied", "stale"]
    assert stored is not None and "tag/a" in stored.feeds and "tag/b" not in stored.feeds


def test_an_update_touches_the_feeds_it_leaves_and_those_it_joins_once_each():
    stored, _ = replay([publish(1, tags=["NATO", "China"])])
    change = decide(stored, publish(2, tags=["NATO", "Baltics"]))
    assert change.leave == ("tag/china",)
    assert len(change.touched) == len(set(change.touched))
    assert {"tag/china", "tag/nato", "tag/baltics"} <= set(change.touched)


# Retraction is final --------------------------------------------------------------------------
def test_a_replay_of_the_retracted_version_does_not_bring_it_back():
    stored, changes = replay([publish(2), unpublish(2), publish(2)])
    assert [c.outcome for c in changes] == ["applied", "applied", "stale"]
    assert stored is not None and stored.state == "unpublished" and stored.feeds == ()
    assert changes[2].touched == () and not changes[2].first_publish


def test_an_older_publish_arriving_after_the_unpublish_is_stale():
    stored, changes = replay([publish(1), unpublish(3), publish(2, tags=["Late"])])
    assert changes[1].retracted and set(changes[1].leave) == set(changes[0].feeds)
    assert changes[2].outcome == "stale" and changes[2].touched == ()
    assert stored is not None and stored.state == "unpublished"


def test_an_unpublish_without_version_or_time_retracts_whatever_version_is_up():
    stored, _ = replay([publish(7)])
    assert stored is not None
    change = decide(stored, unpublish(None))
    assert change.outcome == "applied" and change.retracted and change.feeds == ()
    assert set(change.leave) == set(stored.feeds)


def test_a_republish_after_a_retraction_applies_but_is_never_shared_again():
    stored, changes = replay([publish(1), unpublish(2), publish(3)])
    assert [c.first_publish for c in changes] == [True, False, False]
    assert stored is not None and stored.state == "published" and "all" in stored.feeds
    assert changes[2].leave == ()  # nothing to leave: it was in no feed


def test_an_unpublish_of_an_article_never_published_retracts_nothing():
    change = decide(None, unpublish(1))
    assert change.outcome == "applied" and change.state == "unpublished"
    assert not change.retracted and change.leave == () and change.touched == ()


# Purge ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "event",
    [unpublish(None), unpublish(99), publish(None, at=T0 + timedelta(days=365)), publish(10**6)],
    ids=["bare unpublish", "newer unpublish", "newer publish without version", "newer publish"],
)
def test_a_purged_tombstone_takes_no_event_of_any_kind(event):
    tombstone = Stored("purged", 1, T0, (), first_published_at="shared")
    change = decide(tombstone, event)
    assert change == Change("purged", state="purged")  # no feeds, nothing shared or deleted


def test_an_unpurged_article_takes_an_older_event_and_starts_from_no_feeds():
    unpurged = Stored("unpurged", 9, T0 + timedelta(days=1), (), first_published_at="shared")
    stored, changes = replay([publish(2, at=T0)], unpurged)
    assert changes[0].outcome == "applied" and not changes[0].first_publish
    assert changes[0].leave == () and stored is not None and stored.version == 2
    # ...and from then on the ordinary rules hold again.
    assert decide(stored, publish(1)).outcome == "stale"


def test_an_unpurged_article_unpublished_again_retracts_nothing():
    unpurged = Stored("unpurged", 9, T0, (), first_published_at="shared")
    change = decide(unpurged, unpublish(1))
    assert change.outcome == "applied" and change.state == "unpublished"
    assert not change.retracted and change.touched == ()
