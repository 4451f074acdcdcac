"""Rendered feeds: the bytes of each format, their ETags, the version a render saw and render
failures; the claims and releases of the render queue (its keys and scripts are in
worker/store/render_queue.py).

hash `syn:feed:<key>:meta`: etag:<fmt>, size:<fmt>, last_modified (HTTP date), rendered_version,
rendered_at, items, renders, skipped (JSON: items left out, with reasons), render_failures,
render_error, render_failed_at, pinged_at, pinged_hub.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from redis.exceptions import RedisError

from syndicate.logs import mask
from worker.store import counters, dead
from worker.store._prefix import PREFIX, Client
from worker.store.render_queue import (
    CLAIM_NEXT,
    DIRTY,
    HEAD_START_MS,
    QUEUES,
    READ_MARK_EVERY_S,
    READ_WINDOW_S,
    RELEASE,
    lua_parts,
    mark_in,
    read_key,
    render_lock_key,
)


def meta_key(feed_key: str) -> str:
    return f"{PREFIX}feed:{feed_key}:meta"


def body_key(feed_key: str, fmt: str) -> str:
    """string: the rendered bytes of one format (rss|atom|json)."""
    return f"{PREFIX}feed:{feed_key}:body:{fmt}"


def version_key(feed_key: str) -> str:
    """counter: bumped on every change to the feed's membership or its articles."""
    return f"{PREFIX}feed:{feed_key}:version"


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def changed_in(pipe: Any, feed_keys: list[str] | tuple[str, ...], mark_dirty: bool = True) -> None:
    """Inside the transaction that changed these feeds: bump their versions (and mark them for
    the renderers, unless a backfill renders them itself at the end)."""
    for key in feed_keys:
        pipe.incr(version_key(key))
    if mark_dirty:
        mark_in(pipe, feed_keys)


# Compare-and-publish a render. KEYS: meta hash, version counter, dirty set, dead letters, the
# replayed marks of dead letters, then one body key per format. ARGV: version, feed key, rendered_at, items, Last-Modified, n, then per
# format its name, ETag and bytes, then the skipped items (JSON) and the feed's title. Returns -1 (a newer render
# won), 0 (same bytes) or 1 (changed). The feed leaves the dirty set only if no change arrived
# since the render read it.
_SAVE = """
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
           'items', ARGV[4], 'render_failures', 0, 'skipped', ARGV[7 + n * 3],
           'title', ARGV[8 + n * 3])
redis.call('HDEL', KEYS[1], 'render_error')
redis.call('ZREM', KEYS[4], 'render:' .. ARGV[2])
redis.call('HDEL', KEYS[5], 'render:' .. ARGV[2])
if changed == 1 then
  for i = 0, n - 1 do
    local fmt, etag, body = ARGV[7 + i * 3], ARGV[8 + i * 3], ARGV[9 + i * 3]
    redis.call('SET', KEYS[6 + i], body)
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
# render read it: then the change is rendered at once. Returns the failures in a row.
_FAILED = """
local failures = redis.call('HINCRBY', KEYS[1], 'render_failures', 1)
redis.call('HSET', KEYS[1], 'render_error', ARGV[3], 'render_failed_at', ARGV[4])
if tonumber(redis.call('GET', KEYS[2]) or '0') == tonumber(ARGV[1]) then
  redis.call('SREM', KEYS[3], ARGV[2])
end
return failures
"""


# Drop a feed. KEYS: version counter, meta, read marker, the dirty set, QUEUES (4), then the
# body keys. ARGV: the version its render saw, the feed key. 0 if it changed since.
_DROP = """
if tonumber(redis.call('GET', KEYS[1]) or '0') ~= tonumber(ARGV[1]) then return 0 end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('SREM', KEYS[4], ARGV[2])
for j = 5, 8 do redis.call('ZREM', KEYS[j], ARGV[2]) end
for j = 9, #KEYS do redis.call('DEL', KEYS[j]) end
return 1
"""


class Feeds:
    def __init__(self, client: Client) -> None:
        self._r = client
        self._save = client.register_script(_SAVE)
        self._release = client.register_script(RELEASE)
        self._claim_next = client.register_script(CLAIM_NEXT)
        self._failed = client.register_script(_FAILED)
        self._drop = client.register_script(_DROP)

    def save(
        self,
        feed_key: str,
        version: int,
        bodies: dict[str, bytes],
        item_count: int,
        skipped: tuple[tuple[str, str], ...] = (),
        title: str = "",
    ) -> bool:
        """Publish rendered bytes unless a newer render got there first (one atomic script).
        True when the bytes changed (which is what hubs get pinged for)."""
        fmts = list(bodies)
        args: list[Any] = [
            version,
            feed_key,
            f"{time.time():.3f}",
            item_count,
            format_datetime(datetime.now(UTC), usegmt=True),
            len(fmts),
        ]
        for fmt in fmts:
            args += [fmt, etag_of(bodies[fmt]), bodies[fmt]]
        args.append(json.dumps([list(s) for s in skipped]))
        args.append(title)
        result = self._save(
            keys=[
                meta_key(feed_key),
                version_key(feed_key),
                DIRTY,
                dead.DEAD,
                dead.REPLAYED,
                *(body_key(feed_key, fmt) for fmt in fmts),
            ],
            args=args,
        )
        return result == 1

    def failed(self, feed_key: str, version: int, reason: str) -> int:
        return int(
            self._failed(
                keys=[meta_key(feed_key), version_key(feed_key), DIRTY],
                args=[version, feed_key, mask(reason), f"{time.time():.3f}"],
            )
        )

    def count_render(self, seconds: float) -> None:
        pipe = self._r.pipeline()
        counters.add_in(pipe, counters.RENDERS, 1)
        counters.add_in(pipe, counters.RENDER_SECONDS, seconds)
        pipe.execute()

    def mark_dirty(self, *feed_keys: str) -> None:
        mark_in(self._r, feed_keys)

    def retry(self, feed_key: str) -> None:
        """A fresh set of render attempts (for `replay`)."""
        pipe = self._r.pipeline()
        pipe.hset(meta_key(feed_key), "render_failures", 0)
        mark_in(pipe, [feed_key])
        pipe.execute()

    def requeue(self, cursor: int = 0, count: int = 500) -> int:
        """One step through the dirty set, queueing any feed in it that is in no queue (put in
        the set by hand, or left by a version before the queues): returns the next cursor (0
        once the whole set has been seen). The renderers take a step now and then."""
        cursor, members = self._r.sscan(DIRTY, cursor, count=count)
        if members:
            mark_in(self._r, [m.decode() for m in members])
        return int(cursor)

    def queued(self) -> dict[str, float]:
        """Every queued feed and when it may be rendered (epoch s): for `status` and the tests."""
        pipe = self._r.pipeline(transaction=False)
        for queue in QUEUES:
            pipe.zrange(queue, 0, -1, withscores=True)
        return {k.decode(): score / 1000 for rows in pipe.execute() for k, score in rows}

    def dirty_count(self) -> int:
        return int(self._r.scard(DIRTY))

    def claim_next(self, ttl_s: int, oldest_first: bool = False) -> tuple[str, str] | None:
        """Take the next dirty feed that no renderer has or holds, by due time less its
        priority's head start (`all`, sections, feeds with readers, then the rest, oldest
        first), or by due time alone (`oldest_first`): (feed key, token for `release`), or
        None. One script of O(log n) steps. The lock expires after `ttl_s` should that renderer
        die mid-render."""
        token = secrets.token_hex(8)
        prefix, lock, _ = lua_parts()
        starts = (0,) * len(HEAD_START_MS) if oldest_first else HEAD_START_MS
        key = self._claim_next(keys=[DIRTY, *QUEUES], args=[prefix, lock, token, ttl_s, *starts])
        return (key.decode(), token) if key else None

    def release(self, feed_key: str, token: str, hold_ms: int = 0) -> None:
        """Let the feed go. With `hold_ms`, no renderer takes it again before that: whatever
        changes meanwhile stays dirty and is rendered together, once, when the hold ends."""
        prefix, _, read = lua_parts()
        self._release(
            keys=[DIRTY, *QUEUES, render_lock_key(feed_key)],
            args=[prefix, read, token, hold_ms, feed_key],
        )

    def render_error(self, feed_key: str) -> str:
        return (self._r.hget(meta_key(feed_key), "render_error") or b"").decode()

    def etags(self, feed_key: str, fmts: list[str]) -> list[str | None]:
        """The published ETag of each format (None: not rendered yet)."""
        raw = self._r.hmget(meta_key(feed_key), [f"etag:{fmt}" for fmt in fmts])
        return [v.decode() if v is not None else None for v in raw]

    def meta(self, feed_key: str) -> dict[str, str]:
        return {
            k.decode(): v.decode()
            for k, v in self._r.hgetall(meta_key(feed_key)).items()
            if not k.startswith(b"etag:")
        }

    def pinged(self, feed_key: str, hub: str, answer: str, ok: bool) -> None:
        """A hub's answer to a ping (e.g. "HTTP 204"), kept per hub on the feed."""
        pipe = self._r.pipeline()
        now = f"{time.time():.3f}"
        pipe.hset(
            meta_key(feed_key), f"hub:{hub}", json.dumps({"at": now, "answer": answer, "ok": ok})
        )
        if ok:
            pipe.hset(meta_key(feed_key), mapping={"pinged_at": now, "pinged_hub": hub})
            dead.remove_in(pipe, dead.ping_letter(feed_key, hub))
        pipe.execute()

    def hub_answers(self, feed_key: str) -> dict[str, dict[str, Any]]:
        raw = self._r.hgetall(meta_key(feed_key))
        return {k.decode()[4:]: json.loads(v) for k, v in raw.items() if k.startswith(b"hub:")}

    def listing(self, feed_keys: list[str]) -> dict[str, tuple[str, int]]:
        """(title, item count) of each rendered feed: the index page and the OPML."""
        pipe = self._r.pipeline(transaction=False)
        for key in feed_keys:
            pipe.hmget(meta_key(key), "title", "items")
        out = {}
        for key, (title, items) in zip(feed_keys, pipe.execute()):
            if items is not None:
                out[key] = ((title or key.encode()).decode(), int(items))
        return out

    def status(self, feed_keys: list[str]) -> dict[str, dict[str, str]]:
        """rendered_at, pinged_at and item count per feed (the status page's timeline)."""
        pipe = self._r.pipeline()
        for key in feed_keys:
            pipe.hmget(meta_key(key), "rendered_at", "pinged_at", "items")
        out = {}
        for key, (rendered, pinged, items) in zip(feed_keys, pipe.execute()):
            out[key] = {
                "rendered_at": (rendered or b"").decode(),
                "pinged_at": (pinged or b"").decode(),
                "items": (items or b"").decode(),
            }
        return out

    # Operator commands and takedowns ask the renderers, never render themselves ------------
    def touch(self, feed_keys: list[str]) -> dict[str, int]:
        """Bump these feeds' versions and queue them for the renderers (`rebuild`, `backfill`):
        returns the version each render must reach."""
        pipe = self._r.pipeline()
        for key in feed_keys:
            pipe.incr(version_key(key))
        mark_in(pipe, feed_keys)
        return {key: int(v) for key, v in zip(feed_keys, pipe.execute())}

    def versions(self, feed_keys: list[str]) -> dict[str, int]:
        """Each feed's version now (what a render must reach to include every change so far)."""
        if not feed_keys:
            return {}
        values = self._r.mget([version_key(key) for key in feed_keys])
        return {key: int(v or 0) for key, v in zip(feed_keys, values)}

    def renders_since(
        self, feed_keys: list[str], since: float
    ) -> dict[str, tuple[int | None, str]]:
        """Per feed: the version its last saved render saw (None: no bytes), and the reason if
        a render has failed since `since` (epoch s)."""
        pipe = self._r.pipeline(transaction=False)
        for key in feed_keys:
            pipe.hmget(meta_key(key), "rendered_version", "render_error", "render_failed_at")
        out: dict[str, tuple[int | None, str]] = {}
        for key, (version, error, failed_at) in zip(feed_keys, pipe.execute()):
            recent = error and failed_at and float(failed_at) >= since
            out[key] = (
                int(version) if version is not None else None,
                error.decode() if recent else "",
            )
        return out

    def bodies(self, feed_key: str) -> dict[str, bytes]:
        """The published bytes of every format (none for a feed without them)."""
        fmts = ("rss", "atom", "json")
        values = self._r.mget([body_key(feed_key, fmt) for fmt in fmts])
        return {fmt: v for fmt, v in zip(fmts, values) if v is not None}

    def drop(self, feed_key: str, version: int) -> bool:
        """A feed that is no longer a feed (a takedown left it empty): its bytes, state and
        queue entries go, unless it changed since its render read `version` (then it stays
        queued and is looked at again)."""
        return bool(
            self._drop(
                keys=[
                    version_key(feed_key),
                    meta_key(feed_key),
                    read_key(feed_key),
                    DIRTY,
                    *QUEUES,
                    *(body_key(feed_key, fmt) for fmt in ("rss", "atom", "json")),
                ],
                args=[version, feed_key],
            )
        )


class FeedReader:
    """The serving path's reads, on the API's asyncio client: one small read per request."""

    def __init__(self, client: Any) -> None:
        self._r = client
        self._read_marked: dict[str, float] = {}  # feed key -> when this process last marked it

    async def was_read(self, feed_key: str) -> None:
        """A reader got this feed: for READ_WINDOW_S it has readers, and its renders go ahead of
        the long tail. One write per feed per READ_MARK_EVERY_S in each process; should it
        fail, only the mark is lost, never the read."""
        now = time.monotonic()
        if now - self._read_marked.get(feed_key, -READ_MARK_EVERY_S) < READ_MARK_EVERY_S:
            return
        if len(self._read_marked) >= 10_000:  # bounded, whatever keys are asked for
            self._read_marked.clear()
        self._read_marked[feed_key] = now
        try:
            await self._r.set(read_key(feed_key), b"1", ex=READ_WINDOW_S)
        except RedisError:
            pass

    async def meta(self, feed_key: str, fmt: str) -> tuple[str, str, int] | None:
        """(ETag, Last-Modified, size) of one format; None before the feed's first render."""
        etag, modified, size = await self._r.hmget(
            meta_key(feed_key), f"etag:{fmt}", "last_modified", f"size:{fmt}"
        )
        if etag is None or modified is None:
            return None
        return etag.decode(), modified.decode(), int(size) if size is not None else -1

    async def body(self, feed_key: str, fmt: str) -> bytes | None:
        return await self._r.get(body_key(feed_key, fmt))
