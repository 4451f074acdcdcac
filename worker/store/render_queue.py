"""The render queue the renderers drain: which feeds wait to be rendered, in which order, and
who renders one now (after rq's registries: a sorted set per state).

Four sorted sets of feed keys (one per priority: `all`, sections, feeds read recently, the
rest), each scored by when the feed may next be rendered (ms, Redis's clock): when it became
dirty, or when its hold or its renderer's lease ends. A renderer claims the feed whose score
minus its priority's head start (`HEAD_START_MS`) is lowest among the due ones: four O(log n)
lookups in one script, however many feeds are dirty. A head start is bounded, so a feed of the
long tail waits behind a priority feed that became dirty at most that much later. The dirty set
says which feeds need a render; a render lock (SET NX with a token) keeps two renders of a feed
apart and is kept for the hold after a render. `Feeds` (worker/store/rendered.py) runs these.
"""

from __future__ import annotations

from typing import Any

from redis.client import Pipeline
from redis.commands.core import Script

from worker.store._prefix import PREFIX, eval_in

DIRTY = f"{PREFIX}feeds:dirty"  # set of feed keys changed since their last render
# zsets feed key -> when it may be rendered (epoch ms), by priority: a dirty feed, due then or
# when its hold ends, or a feed leased to the renderer rendering it. Every dirty feed is in one
# of them (`requeue` mends one put in DIRTY by hand).
QUEUES = tuple(f"{PREFIX}feeds:queue:{p}" for p in ("all", "sections", "read", "rest"))
# How far ahead of the rest each priority's feeds go (ms): `all`, sections, feeds read recently,
# the rest. Bounded, not absolute: a tail feed dirty this much longer goes first.
HEAD_START_MS = (120_000, 60_000, 30_000, 0)
READ_WINDOW_S = 24 * 3600  # a feed read through the API within this has readers
READ_MARK_EVERY_S = 60.0  # an API process records a feed's reads at most this often


def render_lock_key(feed_key: str) -> str:
    """string (SET NX, with expiry): the token of the renderer rendering this feed now, or
    holding it for SYNDICATE_RENDER_INTERVAL_MS after its render."""
    return f"{PREFIX}feed:{feed_key}:render-lock"


def read_key(feed_key: str) -> str:
    """string (with expiry READ_WINDOW_S): present while the feed has readers."""
    return f"{PREFIX}feed:{feed_key}:read"


# Lua: the Redis clock in ms (the same for every renderer, whatever its host's clock says).
_NOW_MS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# Lua: the queue a feed belongs in by its priority (KEYS[2..5] are QUEUES); ARGV[1], ARGV[2]
# are the feed key prefix and the read-marker suffix.
_QUEUE_OF = """
local function queue_of(key)
  if key == 'all' then return KEYS[2] end
  if string.sub(key, 1, 8) == 'section/' then return KEYS[3] end
  if redis.call('EXISTS', ARGV[1] .. key .. ARGV[2]) == 1 then return KEYS[4] end
  return KEYS[5]
end
local function queued(key)
  for j = 2, 5 do
    local score = redis.call('ZSCORE', KEYS[j], key)
    if score then return KEYS[j], tonumber(score) end
  end
  return nil, nil
end
"""

# Mark feeds dirty. KEYS: the dirty set, then QUEUES. ARGV: feed key prefix, read suffix,
# render-lock suffix, then the feed keys. A feed not queued is queued from now, or from when its
# render lock goes (held after a render: the change waits for the hold); one queued stays where
# it is (a feed being rendered keeps its lease: its release queues it again), except a lease
# left by a renderer that died, which counts from now.
_MARK = (
    _NOW_MS
    + _QUEUE_OF
    + """
for i = 4, #ARGV do
  local key = ARGV[i]
  local fresh = redis.call('SADD', KEYS[1], key)
  local queue, score = queued(key)
  if queue == nil then
    local held = redis.call('PTTL', ARGV[1] .. key .. ARGV[3])
    redis.call('ZADD', queue_of(key), now + math.max(held, 0), key)
  elseif (fresh == 1 and score < now)
      or (score > now and redis.call('EXISTS', ARGV[1] .. key .. ARGV[3]) == 0) then
    -- a hold that ended, or a lease whose lock is gone (expired mid-render, or deleted):
    -- nobody renders it now, so it is due now
    redis.call('ZADD', queue, now, key)
  end
end
return 0
"""
)
_MARK_SCRIPT = Script(None, _MARK.encode())  # type: ignore[arg-type]  # bytes: no client needed


def lua_parts() -> tuple[str, str, str]:
    """(feed key prefix, render-lock suffix, read-marker suffix) for the scripts."""
    prefix, _, lock = render_lock_key("\0").partition("\0")
    return prefix, lock, read_key("\0").partition("\0")[2]


def mark_in(client: Any, feed_keys: list[str] | tuple[str, ...]) -> None:
    """Mark feeds dirty and queue them (on a client, or a pipeline inside its transaction)."""
    if feed_keys:
        prefix, lock, read = lua_parts()
        if isinstance(client, Pipeline):
            eval_in(client, _MARK, [DIRTY, *QUEUES], [prefix, read, lock, *feed_keys])
        else:
            _MARK_SCRIPT(
                keys=[DIRTY, *QUEUES], args=[prefix, read, lock, *feed_keys], client=client
            )


# Claim the next feed. KEYS: the dirty set, then QUEUES. ARGV: feed key prefix, render-lock
# suffix, token, ttl (s), then the head start of each queue (ms). Of the due heads of the four
# queues, takes the one whose score less its head start is lowest: locks it (SET NX, as before:
# the lock is what keeps two renders of a feed apart) and leases it in its queue until the lock
# would expire. A due head that is not dirty (a lease left by a renderer that died after its
# render was saved) leaves; one whose lock is still there (a lease that ended a moment before
# its lock, or a lock set by hand) waits for it.
# Returns the feed key, false if nothing is due.
CLAIM_NEXT = (
    _NOW_MS
    + """
local ttl_ms = tonumber(ARGV[4]) * 1000
for _ = 1, 64 do
  local best, queue, rank = nil, nil, nil
  for i = 2, 5 do
    local head = redis.call('ZRANGEBYSCORE', KEYS[i], '-inf', now, 'LIMIT', 0, 1, 'WITHSCORES')
    if head[1] then
      local r = tonumber(head[2]) - tonumber(ARGV[3 + i])
      if rank == nil or r < rank then best, queue, rank = head[1], KEYS[i], r end
    end
  end
  if best == nil then return false end
  if redis.call('SISMEMBER', KEYS[1], best) == 0 then
    redis.call('ZREM', queue, best)
  else
    local lock = ARGV[1] .. best .. ARGV[2]
    if redis.call('SET', lock, ARGV[3], 'NX', 'EX', ARGV[4]) then
      redis.call('ZADD', queue, now + ttl_ms, best)
      return best
    end
    local left = redis.call('PTTL', lock)
    redis.call('ZADD', queue, now + (left > 0 and left or ttl_ms), best)
  end
end
return false
"""
)

# Let a feed go. KEYS: the dirty set, QUEUES, then the render lock. ARGV: feed key prefix, read
# suffix, the claimer's token, hold in ms, the feed key. Only the claimer lets go: the lock is
# kept for the hold; the feed leaves its lease and, if still dirty (it changed while rendering,
# or its render failed after a change), is queued again (by its priority now) for when the hold
# ends. A change during the hold is queued for then by `_MARK`, which reads the lock.
RELEASE = (
    _NOW_MS
    + _QUEUE_OF
    + """
if redis.call('GET', KEYS[6]) ~= ARGV[3] then
  return 0
end
local hold = tonumber(ARGV[4])
if hold > 0 then
  redis.call('PEXPIRE', KEYS[6], hold)
else
  redis.call('DEL', KEYS[6])
end
local key = ARGV[5]
for j = 2, 5 do
  redis.call('ZREM', KEYS[j], key)
end
if redis.call('SISMEMBER', KEYS[1], key) == 1 then
  redis.call('ZADD', queue_of(key), now + hold, key)
end
return 1
"""
)
