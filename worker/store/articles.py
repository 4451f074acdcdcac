"""Articles and feed membership.

hash `syn:article:<id>`: state (published|unpublished|purged), version, time (ISO), doc (the
Article, msgspec JSON; gone once unpublished), url, title, feeds (JSON list), first_published_at,
last_event, timeline (JSON list), purged_at. Membership: per feed a sorted set of article ids by
`published_at` (capped near the feed size, for a flat cost) and one of retractions by when
(announced as RFC 6721 deleted entries).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

import redis
from cachetools import LRUCache

from feeds.article import Article, ArticleEvent, format_time, parse_time
from feeds.lifecycle import Change, Stored, decide
from worker.store import article_scripts as scripts
from worker.store import news, outbox, rendered
from worker.store._prefix import PREFIX, Client, eval_in, part

ARTICLES = f"{PREFIX}articles"  # zset article id -> last change (epoch s)
FEEDS = f"{PREFIX}feeds"  # set of every feed key that ever had an item
TIMELINE_KEPT = 50
PARSED_CACHE_SIZE = 5_000
STANDING_FEEDS = ("all", "audio")  # feeds that exist even when empty


def article_key(article_id: str) -> str:
    return f"{PREFIX}article:{part(article_id)}"


def rendered_key(article_id: str) -> str:
    """hash feed key -> when the article first appeared in that feed's rendered bytes."""
    return f"{PREFIX}article:{part(article_id)}:rendered"


def items_key(feed_key: str) -> str:
    """zset article id -> published_at (epoch s): the feed's membership, newest highest."""
    return f"{PREFIX}feed:{feed_key}:items"


def deleted_key(feed_key: str) -> str:
    """zset article id -> retracted at (epoch s): RFC 6721 deleted entries still announced."""
    return f"{PREFIX}feed:{feed_key}:deleted"


@dataclass
class Applied:
    """What one event did to the store, as the tasks and the event's record see it: the
    `Change` (feeds/lifecycle.py) the store carried out, less what only the write needs."""

    outcome: str  # applied | stale | duplicate | purged
    state: str | None = None
    touched_feeds: list[str] = field(default_factory=list)
    first_publish: bool = False
    unpublished: bool = False

    @classmethod
    def of(cls, change: Change) -> Applied:
        return cls(
            change.outcome,
            change.state,
            list(change.touched),
            first_publish=change.first_publish,
            unpublished=change.retracted,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "state": self.state,
            "feeds": self.touched_feeds,
            "first_publish": self.first_publish,
            "unpublished": self.unpublished,
        }


class ForRender(NamedTuple):
    version: int
    articles: list[Article]
    deleted: list[tuple[str, datetime]]  # (article id, retracted at)
    unreadable: list[tuple[str, str]]  # (article id, reason)


def _stored(raw: dict[str, str]) -> Stored | None:
    if not raw:
        return None
    return Stored(
        state=raw.get("state"),
        version=int(raw["version"]) if raw.get("version") else None,
        time=parse_time(raw["time"]) if raw.get("time") else None,
        feeds=tuple(json.loads(raw.get("feeds") or "[]")),
        first_published_at=raw.get("first_published_at") or None,
    )


class Articles:
    def __init__(
        self, client: Client, networks: tuple[str, ...], feed_size: int, feeds: rendered.Feeds
    ) -> None:
        self._r = client
        self.networks = networks
        # A feed shows `feed_size` items; its membership keeps twice that (at least 100 more), so
        # retractions at the top are backfilled from below while memory and cost stay flat however
        # many articles the archive holds. An article trimmed away rejoins when it is updated, if
        # it is then among the newest `membership_cap` (a retraction above it makes room).
        self.membership_cap = max(2 * feed_size, feed_size + 100)
        # Parsed articles by their stored bytes: a feed re-rendered after one change parses one
        # article, not fifty (and the same objects let feeds.render find its cached items).
        self._parsed: LRUCache[bytes, Article] = LRUCache(PARSED_CACHE_SIZE)
        self._for_render = client.register_script(scripts.FOR_RENDER)
        self._mark_rendered = client.register_script(scripts.MARK_RENDERED)

    # Reading ------------------------------------------------------------------------------
    def get(self, article_id: str) -> dict[str, Any] | None:
        data = self._r.hgetall(article_key(article_id))
        if not data:
            return None
        out: dict[str, Any] = {k.decode(): v.decode() for k, v in data.items()}
        for name in ("feeds", "timeline"):
            if name in out:
                out[name] = json.loads(out[name])
        if "doc" in out:
            out["doc"] = Article.from_json(out["doc"].encode()).to_dict()
        return out

    def article(self, article_id: str) -> Article | None:
        """The published article as an object; None if it is not (or no longer) published."""
        doc = self._r.hget(article_key(article_id), "doc")
        return self._parse(doc) if doc else None

    def state(self, article_id: str) -> str | None:
        state = self._r.hget(article_key(article_id), "state")
        return state.decode() if state else None

    def url(self, article_id: str) -> str:
        url = self._r.hget(article_key(article_id), "url")
        return url.decode() if url else ""

    def count(self) -> int:
        return int(self._r.zcard(ARTICLES))

    def titles(self, article_ids: list[str]) -> dict[str, str]:
        """Headlines by article id (what the status page shows instead of ids)."""
        pipe = self._r.pipeline(transaction=False)
        for article_id in article_ids:
            pipe.hget(article_key(article_id), "title")
        return {a: t.decode() for a, t in zip(article_ids, pipe.execute()) if t}

    def mark_rendered(self, feed_key: str, article_ids: list[str], when: float) -> None:
        """Remember when each article first went live in this feed (kept if already set)."""
        if article_ids:
            self._mark_rendered(args=[feed_key, f"{when:.3f}", article_key(""), *article_ids])

    def first_rendered(self, article_id: str) -> dict[str, float]:
        return {k.decode(): float(v) for k, v in self._r.hgetall(rendered_key(article_id)).items()}

    def feed_count(self) -> int:
        return int(self._r.scard(FEEDS))

    def is_feed(self, feed_key: str) -> bool:
        return bool(self._r.sismember(FEEDS, feed_key))

    def all_feeds(self) -> list[str]:
        return sorted(k.decode() for k in self._r.smembers(FEEDS))

    def feeds_with_items(self) -> list[str]:
        keys_ = self.all_feeds()
        pipe = self._r.pipeline()
        for key in keys_:
            pipe.zcard(items_key(key))
        return [k for k, n in zip(keys_, pipe.execute()) if n]

    def _parse(self, doc: bytes) -> Article:
        article = self._parsed.get(doc)
        if article is None:
            article = self._parsed[doc] = Article.from_json(doc)
        return article

    def for_render(self, feed_key: str, limit: int, window_s: float) -> ForRender:
        """Everything a render reads, in one round trip: the feed's version, the newest `limit`
        articles and the retractions within the window (a change after the script ran leaves
        the feed dirty, so it is rendered again). A stored article that cannot be read is left
        out and named in `unreadable`."""
        version, ids, docs, rows = self._for_render(
            keys=[rendered.version_key(feed_key), items_key(feed_key), deleted_key(feed_key)],
            args=[limit, f"{time.time() - window_s:.3f}", article_key("")],
        )
        articles: list[Article] = []
        unreadable: list[tuple[str, str]] = []
        for article_id, doc in zip(ids, docs):
            if not doc:
                continue
            try:
                articles.append(self._parse(doc))
            except (ValueError, TypeError) as exc:  # a stored doc we cannot read
                unreadable.append((article_id.decode(), f"unreadable: {exc}"[:300]))
        deleted = [
            (rows[i].decode(), datetime.fromtimestamp(float(rows[i + 1]), UTC))
            for i in range(0, len(rows), 2)
        ]
        return ForRender(int(version or 0), articles, deleted, unreadable)

    # Changing -----------------------------------------------------------------------------
    def apply(
        self,
        event: ArticleEvent,
        outbox_plan: dict[str, tuple[str, str]] | None = None,
        defer_render: bool = False,
        traceparent: str = "",
    ) -> Applied:
        """Apply one event to its article and to the membership of every feed it is in.

        The rules are feeds.lifecycle's; the read and the writes are one optimistic transaction
        on the article's key, so concurrent workers cannot interleave. `outbox_plan` is what each
        network does on a first publish (the intent is written in the same MULTI). With
        `defer_render` (backfill) the touched feeds are not marked dirty: the caller renders
        each once at the end.
        """
        key = article_key(event.article_id)
        with self._r.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    raw = {k.decode(): v.decode() for k, v in pipe.hgetall(key).items()}
                    change = decide(_stored(raw), event)
                    if change.outcome != "applied":
                        pipe.unwatch()
                        return Applied.of(change)
                    posts = (
                        outbox.states_in(pipe, event.article_id, self.networks)
                        if change.retracted
                        else {}
                    )
                    self._write(
                        pipe,
                        key,
                        raw,
                        event,
                        change,
                        outbox_plan or {},
                        posts,
                        defer_render,
                        traceparent,
                    )
                    return Applied.of(change)
                except redis.WatchError:
                    continue

    def _write(
        self,
        pipe: Any,
        key: str,
        raw: dict[str, str],
        event: ArticleEvent,
        change: Change,
        plan: dict[str, tuple[str, str]],
        posts: dict[str, str],
        defer_render: bool,
        traceparent: str,
    ) -> None:
        """Carry out an applied `change` in one MULTI (the caller watches `key`): the article's
        fields and timeline, its membership, the news sitemap, the outbox, the feeds to render."""
        now = time.time()
        fields = _fields(raw, event, change)
        pipe.multi()
        for feed in change.leave:
            pipe.zrem(items_key(feed), event.article_id)
        if event.article is not None:
            published = self._publish_in(pipe, event, event.article, change, plan, now, traceparent)
            fields.update(published)
        else:
            _retract_in(pipe, event.article_id, change.leave, posts, now)
        pipe.hset(key, mapping=fields)
        pipe.zadd(ARTICLES, {event.article_id: now})
        rendered.changed_in(pipe, change.touched, mark_dirty=not defer_render)
        pipe.execute()

    def _publish_in(
        self,
        pipe: Any,
        event: ArticleEvent,
        article: Article,
        change: Change,
        plan: dict[str, tuple[str, str]],
        now: float,
        traceparent: str,
    ) -> dict[str, str]:
        """A publish or an update, in the caller's MULTI: the article joins its feeds and the
        news sitemap; a first publish records the intent to share. Returns the article's fields
        it sets."""
        fields = {"doc": article.to_json().decode(), "url": article.url, "title": article.title}
        news.published_in(
            pipe,
            event.article_id,
            article.published_at,
            article.url,
            article.title,
            article.language,
            now,
        )  # first date kept (NX)
        if change.first_publish:
            fields["first_published_at"] = format_time(datetime.now(UTC))
            # Intent to share is recorded with the publish itself: a crash after this commit
            # cannot lose a post, and no later event can add a second one.
            for network, (state, reason) in plan.items():
                outbox.intend_in(
                    pipe, event.article_id, network, state, reason, event.event_id, now, traceparent
                )
        eval_in(
            pipe,
            scripts.JOIN,
            [k for feed in change.feeds for k in (items_key(feed), deleted_key(feed))],
            [event.article_id, article.published_at.timestamp(), self.membership_cap],
        )
        pipe.sadd(FEEDS, *change.feeds)
        return fields

    def item_counts(self, feed_keys: list[str]) -> list[int]:
        """How many articles each feed's membership holds (at most `membership_cap`)."""
        pipe = self._r.pipeline(transaction=False)
        for key in feed_keys:
            pipe.zcard(items_key(key))
        return [int(n) for n in pipe.execute()]

    def page_of(self, feed_key: str, start: int, count: int) -> tuple[int, list[Article]]:
        """How many articles a feed's membership holds, and `count` (at most 100) from rank
        `start`, newest first, those still published: its HTML page, past what the feed shows."""
        key = items_key(feed_key)
        total, ids = (
            self._r.pipeline(transaction=False)
            .zcard(key)
            .zrevrange(key, start, start + max(1, min(count, 100)) - 1)
            .execute()
        )
        found = (self.article(i.decode()) for i in ids)
        return int(total), [a for a in found if a is not None]


def _fields(raw: dict[str, str], event: ArticleEvent, change: Change) -> dict[str, str]:
    """The article's hash fields every applied event sets: state, version, time, the event, the
    timeline (the last TIMELINE_KEPT events) and the feeds it is in now."""
    timeline = json.loads(raw.get("timeline", "[]"))[-(TIMELINE_KEPT - 1) :]
    timeline.append(
        {
            "at": format_time(datetime.now(UTC)),
            "event": event.event_id,
            "type": event.type,
            "version": event.version,
        }
    )
    return {
        "state": change.state or "",
        "version": "" if event.version is None else str(event.version),
        "time": format_time(event.updated_at) if event.updated_at else raw.get("time", ""),
        "last_event": event.event_id,
        "timeline": json.dumps(timeline),
        "feeds": json.dumps(list(change.feeds)),
    }


def _retract_in(
    pipe: Any, article_id: str, leave: tuple[str, ...], posts: dict[str, str], now: float
) -> None:
    """An unpublish, in the caller's MULTI. Retraction means gone: the text leaves the store (the
    audit trail of times, title, URL and deliveries stays), each feed it leaves announces the
    retraction (RFC 6721), and every post made or still to be made is asked to be deleted."""
    pipe.hdel(article_key(article_id), "doc")
    news.retracted_in(pipe, article_id)
    for feed in leave:
        pipe.zadd(deleted_key(feed), {article_id: now})
    for network, state in posts.items():
        if state in ("pending", "sent"):
            outbox.request_delete_in(pipe, article_id, network, now)
