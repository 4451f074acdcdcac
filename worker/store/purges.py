"""Takedowns in the store: an article purged for good (and, by an operator's audited decision,
let back), and the audit list of both.

list `syn:audit`: JSON records, newest first (purges and un-purges), at most AUDIT_KEPT. The
article's tombstone is its own hash (worker/store/articles.py): state `purged` or `unpurged`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import redis

from worker.store import events, news, outbox, rendered
from worker.store._prefix import PREFIX, Client
from worker.store.articles import (
    FEEDS,
    STANDING_FEEDS,
    article_key,
    deleted_key,
    items_key,
    rendered_key,
)

AUDIT = f"{PREFIX}audit"  # list of JSON records, newest first: purges and un-purges
AUDIT_KEPT = 10_000


class Purges:
    def __init__(self, client: Client, networks: tuple[str, ...]) -> None:
        self._r = client
        self.networks = networks

    def purge(
        self, article_id: str, networks: tuple[str, ...] | None = None
    ) -> dict[str, Any] | None:
        """Remove everything of an article (a legal takedown): its text, title and URL, its
        events and their bodies, the words kept for the networks, its items in every feed it was
        ever in (marked for rendering); a feed it leaves empty is no longer a feed (its name may
        be the person's: the renderer removes its bytes and files). Posts still up are marked
        for deletion. A tombstone (state `purged`, version, times) stays, so that no event
        brings it back or shares it again (until `unpurge`), and an audit record says what was
        removed. None if the article is unknown; a second purge removes what is left.

        What is there is read under WATCH (the article, its events, its feeds) and removed in
        one MULTI; a change to any of them meanwhile starts the purge again."""
        networks = self.networks if networks is None else networks
        with self._r.pipeline() as pipe:
            while True:
                try:
                    held = _watch_and_read(pipe, article_id, networks)
                    if held is None:
                        pipe.unwatch()
                        return None
                    pipe.multi()
                    record = _remove_in(pipe, article_id, networks, held, time.time())
                    pipe.execute()
                    return record
                except redis.WatchError:
                    continue

    def unpurge(self, article_id: str, reason: str) -> bool:
        """Let the CMS publish a purged article again (an operator's decision, audited): the
        tombstone becomes `unpurged`, so the next event from the CMS applies whatever its
        version; it is not shared again (its first publish is kept). False if the article is
        not purged."""
        key = article_key(article_id)
        with self._r.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    if pipe.hget(key, "state") != b"purged":
                        pipe.unwatch()
                        return False
                    pipe.multi()
                    pipe.hset(key, "state", "unpurged")
                    pipe.lpush(
                        AUDIT,
                        json.dumps(
                            {
                                "action": "unpurge",
                                "article_id": article_id,
                                "at": time.time(),
                                "reason": reason,
                            }
                        ),
                    )
                    pipe.ltrim(AUDIT, 0, AUDIT_KEPT - 1)
                    pipe.execute()
                    return True
                except redis.WatchError:
                    continue


@dataclass(frozen=True)
class _Held:
    """What the store holds of an article about to be purged (read under WATCH)."""

    stored: dict[str, str]  # the article's hash
    event_ids: list[str]
    feeds: list[str]  # every feed it is or was rendered in
    emptied: list[str]  # the feeds it leaves empty (not the standing ones): no longer feeds
    deletes: list[str]  # the networks whose post (made or still to be made) must go


def _watch_and_read(pipe: Any, article_id: str, networks: tuple[str, ...]) -> _Held | None:
    """Watch the article, its events and the feeds it is in, and read what the purge removes;
    None if the article is unknown."""
    key = article_key(article_id)
    index = events.article_events_key(article_id)
    pipe.watch(key, index, rendered_key(article_id))
    stored = {k.decode(): v.decode() for k, v in pipe.hgetall(key).items()}
    if not stored:
        return None
    rendered_in = sorted(k.decode() for k in pipe.hkeys(rendered_key(article_id)))
    feeds = list(dict.fromkeys(json.loads(stored.get("feeds") or "[]") + rendered_in))
    if feeds:  # WATCH takes at least one key
        pipe.watch(*(items_key(feed) for feed in feeds))
    emptied = [
        feed
        for feed in feeds
        if feed not in STANDING_FEEDS
        and not set(pipe.zrange(items_key(feed), 0, 1)) - {article_id.encode()}
    ]
    states = outbox.states_in(pipe, article_id, networks)
    return _Held(
        stored,
        event_ids=[e.decode() for e in pipe.zrange(index, 0, -1)],
        feeds=feeds,
        emptied=emptied,
        deletes=[n for n, s in states.items() if s in ("pending", "sent")],
    )


def _remove_in(
    pipe: Any, article_id: str, networks: tuple[str, ...], held: _Held, now: float
) -> dict[str, Any]:
    """Queue the purge in the caller's MULTI: the article out of every feed (a feed it empties
    gone), its events, words and news entry removed, the tombstone in its place, its posts'
    deletes asked for, and the audit record (returned)."""
    for feed in held.feeds:
        pipe.zrem(items_key(feed), article_id)
    for feed in held.emptied:
        pipe.delete(deleted_key(feed))
    if held.emptied:
        pipe.srem(FEEDS, *held.emptied)
    rendered.changed_in(pipe, held.feeds)
    events.remove_in(pipe, held.event_ids, article_id)
    outbox.scrub_in(pipe, article_id, networks)
    news.retracted_in(pipe, article_id)
    key = article_key(article_id)
    pipe.delete(key, rendered_key(article_id))
    tombstone = {
        k: held.stored[k] for k in ("version", "time", "first_published_at") if held.stored.get(k)
    }
    pipe.hset(
        key,
        mapping={
            **tombstone,
            "state": "purged",
            "feeds": "[]",
            "purged_at": f"{now:.3f}",
        },
    )
    for network in held.deletes:
        outbox.request_delete_in(pipe, article_id, network, now)
    record = {
        "action": "purge",
        "article_id": article_id,
        "at": now,
        "was": held.stored.get("state"),
        "feeds": held.feeds,
        "removed_feeds": held.emptied,
        "events_removed": len(held.event_ids),
        "posts_to_delete": held.deletes,
    }
    pipe.lpush(AUDIT, json.dumps(record))
    pipe.ltrim(AUDIT, 0, AUDIT_KEPT - 1)
    return record
