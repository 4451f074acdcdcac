"""The Redis store: events, articles, feed membership, rendered feeds, the social outbox.

Every state change that must be all-or-nothing is one MULTI/EXEC (with WATCH where it reads
first), so a crash between two writes never leaves half an article applied.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import redis

from feeds.article import Article, ArticleEvent, format_time, parse_time
from feeds.membership import feed_keys
from feeds.ordering import supersedes
from syndicate.config import NETWORKS
from syndicate.logs import mask
from worker import keys

log = logging.getLogger("syndicate.store")

RECENT_EVENTS_KEPT = 1000
PARSED_CACHE_SIZE = 5_000
EVENT_SUMMARY_FIELDS = ("status", "type", "article_id", "received_at", "finished_at", "result",
                        "error")

# Record a new event. KEYS: event hash, recent, unfinished, the article's events. ARGV: type,
# article id, body, now, event id, recent kept, retention (s). The record (and so the dedup of
# its id) lasts the retention period; then its body is gone.
_ACCEPT = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'status', 'queued', 'type', ARGV[1], 'article_id', ARGV[2],
           'body', ARGV[3], 'received_at', ARGV[4], 'attempts', 0)
redis.call('EXPIRE', KEYS[1], ARGV[7])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[5])
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -tonumber(ARGV[6]) - 1)
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', tonumber(ARGV[4]) - tonumber(ARGV[7]))
redis.call('EXPIRE', KEYS[4], ARGV[7])
return 1
"""


# KEYS: pairs of (feed items zset, feed deleted zset); ARGV: article id, score, cap.
_JOIN_FEEDS = """
for i = 1, #KEYS, 2 do
  redis.call('ZADD', KEYS[i], ARGV[2], ARGV[1])
  redis.call('ZREMRANGEBYRANK', KEYS[i], 0, -tonumber(ARGV[3]) - 1)
  redis.call('ZREM', KEYS[i + 1], ARGV[1])
end
return 1
"""


# Compare-and-publish a render. KEYS: meta hash, version counter, dirty set, dead letters, then
# one body key per format. ARGV: version, feed key, rendered_at, items, Last-Modified, n, then per
# format its name, ETag and bytes, then the skipped items (JSON). Returns -1 (a newer render won), 0 (same bytes) or 1 (changed). The feed
# leaves the dirty set only if no change arrived since the render read it.
_SAVE_RENDER = """
redis.call('HINCRBY', KEYS[1], 'renders', 1)
local version = tonumber(ARGV[1])
if tonumber(redis.call('HGET', KEYS[1], 'rendered_version') or '-1') > version then
  return -1
end
local n = tonumber(ARGV[6])
local changed = 0
for i = 0, n - 1 do
  if redis.call('HGET', KEYS[1], 'etag:' .. ARGV[7 + i * 3]) ~= ARGV[8 + i * 3] then
    changed = 1
  end
end
redis.call('HSET', KEYS[1], 'rendered_version', ARGV[1], 'rendered_at', ARGV[3],
           'items', ARGV[4], 'render_failures', 0, 'skipped', ARGV[7 + n * 3])
redis.call('HDEL', KEYS[1], 'render_error')
redis.call('ZREM', KEYS[4], 'render:' .. ARGV[2])
if changed == 1 then
  for i = 0, n - 1 do
    local fmt, etag, body = ARGV[7 + i * 3], ARGV[8 + i * 3], ARGV[9 + i * 3]
    redis.call('SET', KEYS[5 + i], body)
    redis.call('HSET', KEYS[1], 'etag:' .. fmt, etag, 'size:' .. fmt, string.len(body))
  end
  redis.call('HSET', KEYS[1], 'last_modified', ARGV[5])
end
if tonumber(redis.call('GET', KEYS[2]) or '0') == version then
  redis.call('SREM', KEYS[3], ARGV[2])
end
return changed
"""


# A render that raised. KEYS: meta hash, version counter, dirty set. ARGV: version, feed key,
# reason, now. The feed leaves the dirty set (its retry is scheduled) unless it changed since the
# render read it: then the change is rendered at once. Returns the failures so far.
_RENDER_FAILED = """
local failures = redis.call('HINCRBY', KEYS[1], 'render_failures', 1)
redis.call('HSET', KEYS[1], 'render_error', ARGV[3], 'render_failed_at', ARGV[4])
if tonumber(redis.call('GET', KEYS[2]) or '0') == tonumber(ARGV[1]) then
  redis.call('SREM', KEYS[3], ARGV[2])
end
return failures
"""


@dataclass
class Applied:
    """What one event did to the store."""

    outcome: str  # applied | stale | duplicate
    state: str | None = None  # the article's state after the event
    touched_feeds: list[str] = field(default_factory=list)
    first_publish: bool = False
    unpublished: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "state": self.state,
            "feeds": self.touched_feeds,
            "first_publish": self.first_publish,
            "unpublished": self.unpublished,
        }


async def read_serving_meta(client: Any, feed_key: str, fmt: str) -> tuple[str, str, int] | None:
    """(ETag, Last-Modified, size) of one format: the serving path's one small Redis read,
    on an asyncio client. None before the feed's first render."""
    etag, modified, size = await client.hmget(keys.feed_meta(feed_key), f"etag:{fmt}",
                                              "last_modified", f"size:{fmt}")
    if etag is None or modified is None:
        return None
    return etag.decode(), modified.decode(), int(size) if size is not None else -1


async def read_feed_body(client: Any, feed_key: str, fmt: str) -> bytes | None:
    return await client.get(keys.feed_body(feed_key, fmt))


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _epoch(value: datetime) -> float:
    return value.timestamp()


class Store:
    def __init__(self, client: redis.Redis, feed_size: int = 50,
                 event_retention_days: int = 30) -> None:
        self.r = client
        self.retention_s = event_retention_days * 86400
        # A feed shows `feed_size` items; its membership keeps twice that (at least 100 more), so
        # retractions at the top are backfilled from below while memory and cost stay flat however
        # many articles the archive holds. An article trimmed away rejoins if it is updated.
        self.membership_cap = max(2 * feed_size, feed_size + 100)
        self._parsed: OrderedDict[bytes, Article] = OrderedDict()
        self._accept = client.register_script(_ACCEPT)
        self._join = client.register_script(_JOIN_FEEDS)
        self._save_render = client.register_script(_SAVE_RENDER)
        self._render_failed = client.register_script(_RENDER_FAILED)

    # Events -------------------------------------------------------------------------------
    def accept_event(self, event_id: str, event_type: str, article_id: str, body: str) -> bool:
        """Record a new event as queued; False if this event id was seen before."""
        now = time.time()
        return bool(
            self._accept(
                keys=[keys.event(event_id), keys.EVENTS_RECENT, keys.EVENTS_UNFINISHED,
                      keys.article_events(article_id)],
                args=[event_type, article_id, body, f"{now:.6f}", event_id, RECENT_EVENTS_KEPT,
                      self.retention_s],
            )
        )

    def forget_event(self, event_id: str) -> None:
        """Undo `accept_event` when the task could not be queued: the CMS will send it again."""
        pipe = self.r.pipeline()
        pipe.delete(keys.event(event_id))
        pipe.zrem(keys.EVENTS_RECENT, event_id)
        pipe.zrem(keys.EVENTS_UNFINISHED, event_id)
        pipe.execute()
        # (the article's event index may keep the id: purge skips ids with no record)

    def event(self, event_id: str) -> dict[str, str] | None:
        data = self.r.hgetall(keys.event(event_id))
        return {k.decode(): v.decode() for k, v in data.items()} if data else None

    def event_summaries(self, event_ids: list[str]) -> dict[str, dict[str, str]]:
        """The status fields of many events in one round trip, without their bodies (up to a
        MiB each), for the status page and `syndicate status`."""
        pipe = self.r.pipeline(transaction=False)
        for event_id in event_ids:
            pipe.hmget(keys.event(event_id), *EVENT_SUMMARY_FIELDS)
        out = {}
        for event_id, values in zip(event_ids, pipe.execute()):
            if values[0] is not None:
                out[event_id] = {name: (v or b"").decode()
                                 for name, v in zip(EVENT_SUMMARY_FIELDS, values)}
        return out

    def start_event(self, event_id: str) -> None:
        pipe = self.r.pipeline()
        pipe.hset(keys.event(event_id), "status", "processing")
        pipe.hincrby(keys.event(event_id), "attempts", 1)
        pipe.execute()

    def finish_event(self, event_id: str, status: str, result: dict | None, error: str = "") -> None:
        mapping = {"status": status, "finished_at": f"{time.time():.6f}",
                   "result": json.dumps(result or {}), "error": mask(error)[:500]}
        pipe = self.r.pipeline()
        pipe.hset(keys.event(event_id), mapping=mapping)
        pipe.zrem(keys.EVENTS_UNFINISHED, event_id)
        if status == "failed":
            pipe.zadd(keys.DEAD_LETTERS, {f"event:{event_id}": time.time()})
        else:
            pipe.zrem(keys.DEAD_LETTERS, f"event:{event_id}")  # a replay that worked
        pipe.execute()

    def retry_event(self, event_id: str, reason: str, due_in_s: float) -> None:
        """Back to queued with its reason; the scheduler re-queues it in `due_in_s` seconds."""
        pipe = self.r.pipeline()
        pipe.hset(keys.event(event_id), mapping={"status": "queued", "error": mask(reason)[:500]})
        pipe.zadd(keys.EVENTS_UNFINISHED, {event_id: time.time() + due_in_s})
        pipe.zadd(keys.SCHEDULE, {json.dumps({"task": "event", "args": [event_id]}):
                                  time.time() + due_in_s})
        pipe.execute()

    def unfinished_events(self, older_than: float) -> list[str]:
        ids = self.r.zrangebyscore(keys.EVENTS_UNFINISHED, "-inf", time.time() - older_than)
        return [e.decode() for e in ids]

    # Articles -----------------------------------------------------------------------------
    def article(self, article_id: str) -> dict[str, Any] | None:
        data = self.r.hgetall(keys.article(article_id))
        if not data:
            return None
        out: dict[str, Any] = {k.decode(): v.decode() for k, v in data.items()}
        for name in ("doc", "feeds", "timeline"):
            if name in out:
                out[name] = json.loads(out[name])
        return out

    def article_state(self, article_id: str) -> str | None:
        state = self.r.hget(keys.article(article_id), "state")
        return state.decode() if state else None

    def article_url(self, article_id: str) -> str:
        url = self.r.hget(keys.article(article_id), "url")
        return url.decode() if url else ""

    def apply_event(
        self, event: ArticleEvent, outbox_plan: dict[str, tuple[str, str]] | None = None,
        defer_render: bool = False,
    ) -> Applied:
        """Apply one event to its article and to the membership of every feed it is in.

        Ordering (feeds.ordering) decides whether the event wins; the read and the writes are one
        optimistic transaction on the article's key, so concurrent workers cannot interleave.
        `defer_render` (backfill) leaves the touched feeds off the dirty set, so the sweeper does
        not render them mid-import; the caller renders each once at the end.
        """
        akey = keys.article(event.article_id)
        with self.r.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(akey)
                    result = self._apply(pipe, akey, event, outbox_plan or {}, defer_render)
                    return result
                except redis.WatchError:
                    continue

    def _apply(
        self, pipe: Any, akey: str, event: ArticleEvent, outbox_plan: dict[str, tuple[str, str]],
        defer_render: bool = False,
    ) -> Applied:
        raw = pipe.hgetall(akey)
        stored = {k.decode(): v.decode() for k, v in raw.items()}
        stored_published = stored.get("state") == "published"
        now = time.time()
        if stored:
            stored_version = int(stored["version"]) if stored.get("version") else None
            stored_time = parse_time(stored["time"]) if stored.get("time") else None
            if not supersedes(event.version, event.updated_at, event.publishes,
                              stored_version, stored_time, stored_published):
                same = (stored_version, stored_time, stored_published) == (
                    event.version, event.updated_at, event.publishes)
                pipe.unwatch()
                return Applied(outcome="duplicate" if same else "stale", state=stored.get("state"))
        old_feeds: list[str] = json.loads(stored["feeds"]) if stored_published else []
        outbox_states = {}
        if stored_published and event.article is None:
            for network in NETWORKS:
                state = pipe.hget(keys.outbox(event.article_id, network), "state")
                if state in (b"pending", b"sent"):
                    outbox_states[network] = state.decode()
        timeline = json.loads(stored.get("timeline", "[]"))[-49:]
        timeline.append({"at": format_time(datetime.now(UTC)), "event": event.event_id,
                         "type": event.type, "version": event.version})
        mapping: dict[str, str] = {
            "version": "" if event.version is None else str(event.version),
            "time": format_time(event.updated_at) if event.updated_at else stored.get("time", ""),
            "last_event": event.event_id,
            "timeline": json.dumps(timeline),
        }
        pipe.multi()
        if event.article is not None:
            article = event.article
            new_feeds = feed_keys(article)
            score = _epoch(article.published_at)
            first = not stored.get("first_published_at")
            mapping.update(state="published", doc=json.dumps(article.to_dict()),
                           feeds=json.dumps(new_feeds), url=article.url, title=article.title)
            if first:
                mapping["first_published_at"] = format_time(datetime.now(UTC))
                # Intent to share is recorded with the publish itself: a crash after this
                # commit cannot lose a post, and no later event can add a second one.
                for network, (state, reason) in outbox_plan.items():
                    pipe.hset(keys.outbox(event.article_id, network), mapping={
                        "state": state, "reason": reason, "attempts": 0, "created_at": f"{now:.3f}",
                        "event_id": event.event_id})
                    if state == "pending":
                        pipe.zadd(keys.OUTBOX_OPEN, {f"{event.article_id}\t{network}": now})
            for key in set(old_feeds) - set(new_feeds):
                pipe.zrem(keys.feed_items(key), event.article_id)
            # Join each feed (capped near the feed size, for a flat cost) in one command.
            self._join(keys=[k for key in new_feeds
                             for k in (keys.feed_items(key), keys.feed_deleted(key))],
                       args=[event.article_id, score, self.membership_cap], client=pipe)
            pipe.sadd(keys.FEEDS, *new_feeds)
            touched = list(dict.fromkeys(old_feeds + new_feeds))
            result = Applied("applied", "published", touched, first_publish=first)
        else:
            mapping.update(state="unpublished", feeds=json.dumps([]))
            # Retraction means gone: the text leaves the store; the audit trail (times,
            # title, URL, deliveries) stays.
            pipe.hdel(akey, "doc")
            for key in old_feeds:
                pipe.zrem(keys.feed_items(key), event.article_id)
                pipe.zadd(keys.feed_deleted(key), {event.article_id: now})
            for network in outbox_states:
                pipe.hset(keys.outbox(event.article_id, network), "delete_requested", 1)
                pipe.zadd(keys.OUTBOX_OPEN, {f"{event.article_id}\t{network}": now})
            result = Applied("applied", "unpublished", old_feeds, unpublished=stored_published)
        pipe.hset(akey, mapping=mapping)
        pipe.zadd(keys.ARTICLES, {event.article_id: now})
        if result.touched_feeds:
            if not defer_render:
                pipe.sadd(keys.FEEDS_DIRTY, *result.touched_feeds)
            for key in result.touched_feeds:
                pipe.incr(keys.feed_version(key))
        pipe.execute()
        return result

    def purge_article(self, article_id: str, networks: tuple[str, ...]) -> dict[str, Any] | None:
        """Remove everything of an article (a legal takedown): its text, title and URL, its
        events and their bodies, its items in every feed (rendered again); posts still up are
        marked for deletion. A tombstone (state, version, times) stays so that no late event
        brings it back or shares it again, and an audit record says what was removed.
        None if the article is unknown."""
        akey = keys.article(article_id)
        with self.r.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(akey, keys.article_events(article_id))
                    stored = {k.decode(): v.decode() for k, v in pipe.hgetall(akey).items()}
                    if not stored:
                        pipe.unwatch()
                        return None
                    event_ids = [e.decode() for e in pipe.zrange(keys.article_events(article_id), 0, -1)]
                    feeds = json.loads(stored.get("feeds") or "[]")
                    deletes = [n for n in networks
                               if pipe.hget(keys.outbox(article_id, n), "state") in (b"pending", b"sent")]
                    now = time.time()
                    pipe.multi()
                    for key in feeds:
                        pipe.zrem(keys.feed_items(key), article_id)
                        pipe.incr(keys.feed_version(key))
                    if feeds:
                        pipe.sadd(keys.FEEDS_DIRTY, *feeds)
                    for event_id in event_ids:
                        pipe.delete(keys.event(event_id))
                        pipe.zrem(keys.EVENTS_RECENT, event_id)
                        pipe.zrem(keys.EVENTS_UNFINISHED, event_id)
                        pipe.zrem(keys.DEAD_LETTERS, f"event:{event_id}")
                    pipe.delete(keys.article_events(article_id), akey)
                    tombstone = {k: stored[k] for k in ("version", "time", "first_published_at")
                                 if stored.get(k)}
                    pipe.hset(akey, mapping={**tombstone, "state": "purged", "feeds": "[]",
                                             "purged_at": f"{now:.3f}"})
                    for network in deletes:
                        pipe.hset(keys.outbox(article_id, network), "delete_requested", 1)
                        pipe.zadd(keys.OUTBOX_OPEN, {f"{article_id}\t{network}": now})
                    record = {"action": "purge", "article_id": article_id, "at": now,
                              "was": stored.get("state"), "feeds": feeds,
                              "events_removed": len(event_ids), "posts_to_delete": deletes}
                    pipe.lpush(keys.AUDIT, json.dumps(record))
                    pipe.ltrim(keys.AUDIT, 0, 9_999)
                    pipe.execute()
                    return record
                except redis.WatchError:
                    continue

    def audit_log(self, limit: int = 100) -> list[dict[str, Any]]:
        return [json.loads(r) for r in self.r.lrange(keys.AUDIT, 0, limit - 1)]

    # Feeds --------------------------------------------------------------------------------
    def feed_keys_with_items(self) -> list[str]:
        keys_ = sorted(k.decode() for k in self.r.smembers(keys.FEEDS))
        pipe = self.r.pipeline()
        for key in keys_:
            pipe.zcard(keys.feed_items(key))
        return [k for k, n in zip(keys_, pipe.execute()) if n]

    def _article_of(self, doc: bytes) -> Article:
        """Parsed articles by their stored bytes: a feed re-rendered after one change parses one
        article, not fifty (and the same objects let feeds.render find its cached items)."""
        article = self._parsed.get(doc)
        if article is None:
            article = Article.from_dict(json.loads(doc))
            self._parsed[doc] = article
            if len(self._parsed) > PARSED_CACHE_SIZE:
                self._parsed.popitem(last=False)
        else:
            self._parsed.move_to_end(doc)
        return article

    def feed_for_render(self, feed_key: str, limit: int, window_s: float
                        ) -> tuple[int, list[Article], list[tuple[str, datetime]]]:
        """Everything a render reads, in two round trips: the version first, then the newest
        `limit` articles and the retractions within the window (a change after the version was
        read leaves the feed dirty, so it is rendered again)."""
        dkey = keys.feed_deleted(feed_key)
        pipe = self.r.pipeline(transaction=False)
        pipe.get(keys.feed_version(feed_key))
        pipe.zrevrange(keys.feed_items(feed_key), 0, limit - 1)
        pipe.zremrangebyscore(dkey, "-inf", time.time() - window_s)
        pipe.zrevrange(dkey, 0, 99, withscores=True)
        version, ids, _, rows = pipe.execute()
        articles: list[Article] = []
        if ids:
            pipe = self.r.pipeline(transaction=False)
            for article_id in ids:
                pipe.hget(keys.article(article_id.decode()), "doc")
            for article_id, doc in zip(ids, pipe.execute()):
                if not doc:
                    continue
                try:
                    articles.append(self._article_of(doc))
                except (ValueError, KeyError, TypeError) as exc:  # a stored doc we cannot read
                    log.warning("article %s unreadable, left out of %s: %s",
                                article_id.decode(), feed_key, exc)
        deleted = [(a.decode(), datetime.fromtimestamp(s, UTC)) for a, s in rows]
        return int(version or 0), articles, deleted

    def claim_render(self, feed_key: str, ttl_s: int) -> bool:
        """Take a feed to render; False if another worker's renderer has it (expires after
        `ttl_s` should that worker die mid-render)."""
        return bool(self.r.set(keys.feed_render_scheduled(feed_key), 1, nx=True, ex=ttl_s))

    def release_render(self, feed_key: str) -> None:
        self.r.delete(keys.feed_render_scheduled(feed_key))

    def dirty_feeds(self) -> list[str]:
        return [k.decode() for k in self.r.smembers(keys.FEEDS_DIRTY)]

    def save_render(
        self, feed_key: str, version: int, bodies: dict[str, bytes], item_count: int,
        skipped: tuple[tuple[str, str], ...] = (),
    ) -> bool:
        """Publish rendered bytes unless a newer render got there first (one atomic script).

        Returns True when the bytes changed (which is what hubs get pinged for).
        """
        fmts = list(bodies)
        args: list[Any] = [version, feed_key, f"{time.time():.3f}", item_count,
                           format_datetime(datetime.now(UTC), usegmt=True), len(fmts)]
        for fmt in fmts:
            args += [fmt, etag_of(bodies[fmt]), bodies[fmt]]
        args.append(json.dumps([list(s) for s in skipped]))
        result = self._save_render(
            keys=[keys.feed_meta(feed_key), keys.feed_version(feed_key), keys.FEEDS_DIRTY,
                  keys.DEAD_LETTERS, *(keys.feed_body(feed_key, fmt) for fmt in fmts)],
            args=args)
        return result == 1

    def render_failed(self, feed_key: str, version: int, reason: str) -> int:
        """Record a failed render (see _RENDER_FAILED); the number of failures in a row."""
        return int(self._render_failed(
            keys=[keys.feed_meta(feed_key), keys.feed_version(feed_key), keys.FEEDS_DIRTY],
            args=[version, feed_key, mask(reason), f"{time.time():.3f}"]))

    def mark_dirty(self, feed_key: str) -> None:
        """Ask the renderers for a render of this feed (a scheduled retry)."""
        self.r.sadd(keys.FEEDS_DIRTY, feed_key)

    def mark_pinged(self, feed_key: str, hub: str) -> None:
        pipe = self.r.pipeline()
        pipe.hset(keys.feed_meta(feed_key), mapping={"pinged_at": f"{time.time():.3f}",
                                                     "pinged_hub": hub})
        pipe.zrem(keys.DEAD_LETTERS, f"ping:{feed_key}:{hub}")
        pipe.execute()

    def render_error(self, feed_key: str) -> str:
        return (self.r.hget(keys.feed_meta(feed_key), "render_error") or b"").decode()

    def retry_render(self, feed_key: str) -> None:
        """A fresh set of render attempts (for `replay`)."""
        pipe = self.r.pipeline()
        pipe.hset(keys.feed_meta(feed_key), "render_failures", 0)
        pipe.sadd(keys.FEEDS_DIRTY, feed_key)
        pipe.execute()

    def mark_replayed(self, name: str) -> None:
        """Note on a dead letter that a replay is under way (it stays listed until then)."""
        self.r.hset(keys.REPLAYED, name, f"{time.time():.3f}")

    def feed_status(self, feed_keys: list[str]) -> dict[str, dict[str, str]]:
        """rendered_at, pinged_at and item count per feed (the status page's timeline)."""
        pipe = self.r.pipeline()
        for key in feed_keys:
            pipe.hmget(keys.feed_meta(key), "rendered_at", "pinged_at", "items")
        out = {}
        for key, (rendered, pinged, items) in zip(feed_keys, pipe.execute()):
            out[key] = {"rendered_at": (rendered or b"").decode(),
                        "pinged_at": (pinged or b"").decode(), "items": (items or b"").decode()}
        return out

    # Outbox -------------------------------------------------------------------------------
    def outbox_entry(self, article_id: str, network: str) -> dict[str, str]:
        raw = self.r.hgetall(keys.outbox(article_id, network))
        return {k.decode(): v.decode() for k, v in raw.items()}

    def update_outbox(self, article_id: str, network: str, *, close: bool | None = False,
                      incr_attempts: bool = False, **fields: Any) -> None:
        """Write delivery fields. `close=True` takes the entry off the sweeper's open list,
        `False` (re)opens it as touched now, `None` leaves the list alone."""
        pipe = self.r.pipeline()
        okey = keys.outbox(article_id, network)
        fields["updated_at"] = f"{time.time():.3f}"
        for name in ("last_error", "reason", "note"):  # remote text: never a secret in the store
            if name in fields:
                fields[name] = mask(str(fields[name]))[:500]
        pipe.hset(okey, mapping={k: str(v) for k, v in fields.items()})
        if incr_attempts:
            pipe.hincrby(okey, "attempts", 1)
        member = f"{article_id}\t{network}"
        if close is True:
            pipe.zrem(keys.OUTBOX_OPEN, member)
        elif close is False:
            pipe.zadd(keys.OUTBOX_OPEN, {member: time.time()})
        if "state" in fields:
            pipe.hincrbyfloat(keys.COUNTERS, f"delivery:{network}:{fields['state']}", 1)
            if fields["state"] in ("sent", "deleted", "skipped"):  # done: no longer dead
                pipe.zrem(keys.DEAD_LETTERS, f"delivery:{article_id}:{network}")
        pipe.execute()

    def lock_outbox(self, article_id: str, network: str, ttl_s: int) -> bool:
        return bool(self.r.set(keys.outbox_lock(article_id, network), 1, nx=True, ex=ttl_s))

    def unlock_outbox(self, article_id: str, network: str) -> None:
        self.r.delete(keys.outbox_lock(article_id, network))

    def stale_open_outbox(self, older_than: float) -> list[tuple[str, str]]:
        """Open entries nobody touched for a while (their task was lost); touched again now."""
        cutoff = time.time() - older_than
        members = self.r.zrangebyscore(keys.OUTBOX_OPEN, "-inf", cutoff, start=0, num=100)
        out = []
        for m in members:
            self.r.zadd(keys.OUTBOX_OPEN, {m: time.time()}, xx=True)
            article_id, _, network = m.decode().rpartition("\t")
            out.append((article_id, network))
        return out

    def dead_letter(self, name: str) -> None:
        self.r.zadd(keys.DEAD_LETTERS, {name: time.time()})

    def requeue_event(self, event_id: str) -> bool:
        """A failed event back to queued (for `replay`); False if it is not failed."""
        ekey = keys.event(event_id)
        if self.r.hget(ekey, "status") != b"failed":
            return False
        pipe = self.r.pipeline()
        pipe.hset(ekey, mapping={"status": "queued", "error": "", "replayed_at": f"{time.time():.3f}"})
        pipe.zadd(keys.EVENTS_UNFINISHED, {event_id: time.time()})
        pipe.execute()
        return True

    def reopen_delivery(self, article_id: str, network: str) -> str | None:
        """A failed post back to pending, or a failed delete requested again, each with fresh
        attempts (for `replay`); the action to queue, or None if there is nothing to retry.

        `in_flight` is kept: if the last attempt may have reached the network, the next one
        still checks for that post first, so a replay cannot make a second post.
        """
        okey = keys.outbox(article_id, network)
        entry = self.outbox_entry(article_id, network)
        now = time.time()
        if entry.get("state") == "failed":
            fields = {"state": "pending", "attempts": 0, "note": "replayed",
                      "replayed_at": f"{now:.3f}"}
            action = "post"
        elif entry.get("state") == "sent" and entry.get("last_error", "").startswith("delete"):
            fields = {"delete_requested": 1, "delete_attempts": 0, "note": "delete replayed",
                      "replayed_at": f"{now:.3f}"}
            action = "delete"
        else:
            return None
        pipe = self.r.pipeline()
        pipe.hset(okey, mapping=fields)
        pipe.zadd(keys.OUTBOX_OPEN, {f"{article_id}\t{network}": now})
        pipe.execute()
        return action

    # Schedule -----------------------------------------------------------------------------
    def schedule(self, task: str, args: list[Any], due_in_s: float) -> None:
        """Run `task(*args)` in `due_in_s` seconds, via the scheduler rather than a Celery ETA."""
        member = json.dumps({"task": task, "args": args})
        self.r.zadd(keys.SCHEDULE, {member: time.time() + due_in_s})

    def claim_due(self, limit: int = 100) -> list[dict[str, Any]]:
        """Take due scheduled tasks; ZREM makes each one ours alone."""
        due = self.r.zrangebyscore(keys.SCHEDULE, "-inf", time.time(), start=0, num=limit)
        return [json.loads(m) for m in due if self.r.zrem(keys.SCHEDULE, m)]

    def outbox_entries(self, article_id: str) -> dict[str, dict[str, Any]]:
        """Per network: state, remote id, attempts, last error (what GET /articles shows)."""
        pipe = self.r.pipeline()
        for network in NETWORKS:
            pipe.hgetall(keys.outbox(article_id, network))
        out: dict[str, dict[str, Any]] = {}
        for network, raw in zip(NETWORKS, pipe.execute()):
            if raw:
                entry: dict[str, Any] = {k.decode(): v.decode() for k, v in raw.items()}
                entry["attempts"] = int(entry.get("attempts", 0))
                out[network] = entry
        return out

    # Counters -----------------------------------------------------------------------------
    def count(self, **amounts: float) -> None:
        pipe = self.r.pipeline()
        for name, amount in amounts.items():
            pipe.hincrbyfloat(keys.COUNTERS, name.replace("__", ":"), amount)
        pipe.execute()

    # Workers ------------------------------------------------------------------------------
    def heartbeat(self, hostname: str) -> None:
        self.r.zadd(keys.WORKERS, {hostname: time.time()})

    def live_workers(self, within_s: float = 15) -> list[str]:
        now = time.time()
        self.r.zremrangebyscore(keys.WORKERS, "-inf", now - 3600)
        return [w.decode() for w in self.r.zrangebyscore(keys.WORKERS, now - within_s, "+inf")]
