"""worker/store/news.py, the articles first published recently (the Google News sitemap's), on a
private Redis, with the writes made in a MULTI as the article's own transaction makes them: the
first date kept whatever the updates, never later than the write, an archive not listed, the
entries past the two-day window trimmed on every write and left out of `recent` and of the
fingerprint, a retraction leaving at once, the entry's expiry, and the version bumped on every
change. How articles.py and purges.py call it is tests/test_sitemaps.py's."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import redis

from worker.store import news
from worker.store.news import KEPT_S, PUBLISHED, VERSION, WINDOW_S, News, NewsEntry, entry_key

NOW = 1_800_000_000.0  # a fixed "now" (epoch s), so the window is exact


@pytest.fixture
def r(private_redis: redis.Redis) -> redis.Redis:
    private_redis.flushdb()
    return private_redis


def publish(
    r: redis.Redis, article_id: str, at: float, now: float = NOW, title: str = "", lang="en"
) -> None:
    pipe = r.pipeline()  # a MULTI, like the article's own
    news.published_in(
        pipe,
        article_id,
        datetime.fromtimestamp(at, UTC),
        f"https://n.example/{article_id}",
        title or f"Title of {article_id}",
        lang,
        now,
    )
    pipe.execute()


def retract(r: redis.Redis, article_id: str) -> None:
    pipe = r.pipeline()
    news.retracted_in(pipe, article_id)
    pipe.execute()


def test_a_publish_lists_the_article_with_its_first_date_and_its_words(r):
    publish(r, "a1", NOW - 60, title="Summit opens", lang="de")
    assert r.zscore(PUBLISHED, "a1") == NOW - 60
    assert json.loads(r.get(entry_key("a1"))) == {
        "url": "https://n.example/a1",
        "title": "Summit opens",
        "language": "de",
    }
    assert 0 < r.ttl(entry_key("a1")) <= KEPT_S and r.ttl(entry_key("a1")) > WINDOW_S
    assert News(r).recent(now=NOW) == [
        NewsEntry("a1", NOW - 60, "https://n.example/a1", "Summit opens", "de")
    ]


def test_an_update_keeps_the_first_date_and_takes_the_latest_words(r):
    publish(r, "a1", NOW - 3600, title="First headline")
    publish(r, "a1", NOW - 60, now=NOW + 10, title="Corrected headline", lang=None)
    [entry] = News(r).recent(now=NOW + 10)
    assert entry.first_published == NOW - 3600
    assert (entry.title, entry.language) == ("Corrected headline", None)
    assert r.zcard(PUBLISHED) == 1


def test_a_date_in_the_future_is_listed_as_the_time_of_the_write(r):
    publish(r, "early", NOW + 86400)  # an embargoed date the CMS sent early
    assert r.zscore(PUBLISHED, "early") == NOW


def test_an_archive_is_not_news_and_changes_nothing(r):
    publish(r, "old", NOW - WINDOW_S - 1)
    assert r.zcard(PUBLISHED) == 0 and not r.exists(entry_key("old"))
    assert r.get(VERSION) is None
    assert News(r).fingerprint(now=NOW) == (0, 0)


def test_entries_past_the_window_are_trimmed_by_the_next_write(r):
    publish(r, "day-one", NOW - 60)
    publish(r, "day-three", NOW + WINDOW_S, now=NOW + WINDOW_S)
    assert r.zrange(PUBLISHED, 0, -1) == [b"day-three"]


def test_recent_is_newest_first_within_the_window_and_at_most_the_limit(r):
    for n in range(5):
        publish(r, f"a{n}", NOW - 1000 + n)
    store = News(r)
    assert [e.article_id for e in store.recent(now=NOW)] == ["a4", "a3", "a2", "a1", "a0"]
    assert [e.article_id for e in store.recent(now=NOW, limit=2)] == ["a4", "a3"]
    later = NOW - 1000 + 2 + WINDOW_S  # a0 and a1 have aged out, nothing was written since
    assert [e.article_id for e in store.recent(now=later)] == ["a4", "a3", "a2"]
    assert store.recent(now=NOW + 2 * WINDOW_S) == []


def test_an_entry_whose_words_expired_is_left_out(r):
    publish(r, "a1", NOW - 10)
    publish(r, "a2", NOW - 5)
    r.delete(entry_key("a1"))  # as its expiry would
    assert [e.article_id for e in News(r).recent(now=NOW)] == ["a2"]


def test_a_retraction_leaves_the_sitemap_at_once(r):
    publish(r, "a1", NOW - 10)
    publish(r, "a2", NOW - 5)
    retract(r, "a1")
    assert r.zscore(PUBLISHED, "a1") is None and not r.exists(entry_key("a1"))
    assert [e.article_id for e in News(r).recent(now=NOW)] == ["a2"]
    publish(r, "a1", NOW - 2, now=NOW + 1)  # published again: a new first date
    assert r.zscore(PUBLISHED, "a1") == NOW - 2


def test_the_fingerprint_changes_with_every_change_and_with_the_window(r):
    store = News(r)
    seen = [store.fingerprint(now=NOW)]
    publish(r, "a1", NOW - 10)
    seen.append(store.fingerprint(now=NOW))
    publish(r, "a1", NOW - 10, title="Updated")
    seen.append(store.fingerprint(now=NOW))
    retract(r, "a1")
    seen.append(store.fingerprint(now=NOW))
    assert seen == [(0, 0), (1, 1), (2, 1), (3, 0)]
    assert int(r.get(VERSION)) == 3

    publish(r, "a2", NOW - 10)
    assert store.fingerprint(now=NOW) == (4, 1)
    assert store.fingerprint(now=NOW - 10 + WINDOW_S + 1) == (4, 0)  # aged out, no write
