"""Rendered feeds: the bytes of each format, their ETags, the version a render saw, the dirty
set the renderers drain, render locks and render failures.

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

from syndicate.logs import mask
from worker.store import counters, dead
from worker.store._prefix import PREFIX, Client

DIRTY = f"{PREFIX}feeds:dirty"  # set of feed keys changed since their last render


def meta_key(feed_key: str) -> str:
    return f"{PREFIX}feed:{feed_key}:meta"


def body_key(feed_key: str, fmt: str) -> str:
    """string: the rendered bytes of one format (rss|atom|json)."""
    return f"{PREFIX}feed:{feed_key}:body:{fmt}"


def version_key(feed_key: str) -> str:
    """counter: bumped on every change to the feed's membership or its articles."""
    return f"{PREFIX}feed:{feed_key}:version"


def render_lock_key(feed_key: str) -> str:
    """string (SET NX, with expiry): the token of the renderer rendering this feed now, or
    holding it for SYNDICATE_RENDER_INTERVAL_MS after its render."""
    return f"{PREFIX}feed:{feed_key}:render-lock"


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def changed_in(pipe: Any, feed_keys: list[str] | tuple[str, ...], mark_dirty: bool = True) -> None:
    """Inside the transaction that changed these feeds: bump their versions (and mark them for
    the renderers, unless a backfill renders them itself at the end)."""
    for key in feed_keys:
        pipe.incr(version_key(key))
    if feed_keys and mark_dirty:
        pipe.sadd(DIRTY, *feed_keys)


# Compare-and-publish a render. KEYS: meta hash, version counter, dirty set, dead letters, then
# one body key per format. ARGV: version, feed key, rendered_at, items, Last-Modified, n, then per
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
# render read it: then the change is rendered at once. Returns the failures in a row.
_FAILED = """
local failures = redis.call('HINCRBY', KEYS[1], 'render_failures', 1)
redis.call('HSET', KEYS[1], 'render_error', ARGV[3], 'render_failed_at', ARGV[4])
if tonumber(redis.call('GET', KEYS[2]) or '0') == tonumber(ARGV[1]) then
  redis.call('SREM', KEYS[3], ARGV[2])
end
return failures
"""


# KEYS: the dirty set. ARGV: feed key prefix, render-lock suffix, meta suffix, token, ttl (s).
# Of the dirty feeds no renderer has or holds, locks the one rendered longest ago (never
# rendered first) and returns its key, false if there is none: a renderer's whole search in one
# round trip, and no feed waits behind others that keep changing.
_CLAIM_NEXT = """
local best, oldest = nil, nil
for _, key in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. key .. ARGV[2]) == 0 then
    local at = tonumber(redis.call('HGET', ARGV[1] .. key .. ARGV[3], 'rendered_at') or '0')
    if oldest == nil or at < oldest then
      best, oldest = key, at
    end
  end
end
if best and redis.call('SET', ARGV[1] .. best .. ARGV[2], ARGV[4], 'NX', 'EX', ARGV[5]) then
  return best
end
return false
"""

# KEYS: the render lock. ARGV: the claimer's token, hold in ms. Only the claimer lets go.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  if tonumber(ARGV[2]) > 0 then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
  else
    redis.call('DEL', KEYS[1])
  end
end
"""


class Feeds:
    def __init__(self, client: Client) -> None:
        self._r = client
        self._save = client.register_script(_SAVE)
        self._release = client.register_script(_RELEASE)
        self._claim_next = client.register_script(_CLAIM_NEXT)
        self._failed = client.register_script(_FAILED)

    def save(self, feed_key: str, version: int, bodies: dict[str, bytes], item_count: int,
             skipped: tuple[tuple[str, str], ...] = (), title: str = "") -> bool:
        """Publish rendered bytes unless a newer render got there first (one atomic script).
        True when the bytes changed (which is what hubs get pinged for)."""
        fmts = list(bodies)
        args: list[Any] = [version, feed_key, f"{time.time():.3f}", item_count,
                           format_datetime(datetime.now(UTC), usegmt=True), len(fmts)]
        for fmt in fmts:
            args += [fmt, etag_of(bodies[fmt]), bodies[fmt]]
        args.append(json.dumps([list(s) for s in skipped]))
        args.append(title)
        result = self._save(keys=[meta_key(feed_key), version_key(feed_key), DIRTY, dead.DEAD,
                                  *(body_key(feed_key, fmt) for fmt in fmts)], args=args)
        return result == 1

    def failed(self, feed_key: str, version: int, reason: str) -> int:
        return int(self._failed(keys=[meta_key(feed_key), version_key(feed_key), DIRTY],
                                args=[version, feed_key, mask(reason), f"{time.time():.3f}"]))

    def count_render(self, seconds: float) -> None:
        pipe = self._r.pipeline()
        counters.add_in(pipe, counters.RENDERS, 1)
        counters.add_in(pipe, counters.RENDER_SECONDS, seconds)
        pipe.execute()

    def mark_dirty(self, feed_key: str) -> None:
        self._r.sadd(DIRTY, feed_key)

    def retry(self, feed_key: str) -> None:
        """A fresh set of render attempts (for `replay`)."""
        pipe = self._r.pipeline()
        pipe.hset(meta_key(feed_key), "render_failures", 0)
        pipe.sadd(DIRTY, feed_key)
        pipe.execute()

    def dirty(self) -> list[str]:
        return [k.decode() for k in self._r.smembers(DIRTY)]

    def dirty_count(self) -> int:
        return int(self._r.scard(DIRTY))

    def claim_next(self, ttl_s: int) -> tuple[str, str] | None:
        """Take the dirty feed rendered longest ago that no renderer has or holds: (feed key,
        token for `release`), or None. The lock expires after `ttl_s` should that renderer die
        mid-render."""
        token = secrets.token_hex(8)
        prefix, _, lock = render_lock_key("\0").partition("\0")
        meta = meta_key("\0").partition("\0")[2]
        key = self._claim_next(keys=[DIRTY], args=[prefix, lock, meta, token, ttl_s])
        return (key.decode(), token) if key else None

    def release(self, feed_key: str, token: str, hold_ms: int = 0) -> None:
        """Let the feed go. With `hold_ms`, no renderer takes it again before that: whatever
        changes meanwhile stays dirty and is rendered together, once, when the hold ends."""
        self._release(keys=[render_lock_key(feed_key)], args=[token, hold_ms])

    def render_error(self, feed_key: str) -> str:
        return (self._r.hget(meta_key(feed_key), "render_error") or b"").decode()

    def etags(self, feed_key: str, fmts: list[str]) -> list[str | None]:
        """The published ETag of each format (None: not rendered yet)."""
        raw = self._r.hmget(meta_key(feed_key), [f"etag:{fmt}" for fmt in fmts])
        return [v.decode() if v is not None else None for v in raw]

    def meta(self, feed_key: str) -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in self._r.hgetall(meta_key(feed_key)).items()
                if not k.startswith(b"etag:")}

    def pinged(self, feed_key: str, hub: str, answer: str, ok: bool) -> None:
        """A hub's answer to a ping (e.g. "HTTP 204"), kept per hub on the feed."""
        pipe = self._r.pipeline()
        now = f"{time.time():.3f}"
        pipe.hset(meta_key(feed_key), f"hub:{hub}", json.dumps({"at": now, "answer": answer,
                                                                 "ok": ok}))
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
            out[key] = {"rendered_at": (rendered or b"").decode(),
                        "pinged_at": (pinged or b"").decode(), "items": (items or b"").decode()}
        return out


class FeedReader:
    """The serving path's reads, on the API's asyncio client: one small read per request."""

    def __init__(self, client: Any) -> None:
        self._r = client

    async def meta(self, feed_key: str, fmt: str) -> tuple[str, str, int] | None:
        """(ETag, Last-Modified, size) of one format; None before the feed's first render."""
        etag, modified, size = await self._r.hmget(meta_key(feed_key), f"etag:{fmt}",
                                                   "last_modified", f"size:{fmt}")
        if etag is None or modified is None:
            return None
        return etag.decode(), modified.decode(), int(size) if size is not None else -1

    async def body(self, feed_key: str, fmt: str) -> bytes | None:
        return await self._r.get(body_key(feed_key, fmt))
