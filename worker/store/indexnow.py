"""IndexNow submissions: the URLs waiting to be submitted and the batches being submitted.

zset `syn:indexnow:pending`: every member scores 0 and reads `<host> <url>`, so one host's URLs
are one ZRANGEBYLEX away and a URL queued twice before the flush is one member. At most
PENDING_MAX members (a URL past that is dropped and counted).
string `syn:indexnow:flush` (expiring): a flush is scheduled; the first URL of a batch sets it
and schedules the flush, the URLs after it ride along (the coalescing window). If the flush was
lost it expires, and the next URL schedules one again.
hash `syn:indexnow:batch:<id>`: host, urls (JSON list, at most BATCH_MAX), created_at,
attempts, sending_at (intent, before each POST), last_status, last_error, state (open|failed).
A batch is deleted once an engine took it; a failed one expires after FAILED_KEPT_S.
zset `syn:indexnow:batches`: batch id -> created at (the batches not taken yet).
hash `syn:indexnow:stats`: urls_submitted, batches_submitted, batches_failed, dropped, last_ok_at.
string `syn:indexnow:batch:<id>:lock` (expiring): the worker submitting that batch.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from worker.store import dead
from worker.store._prefix import PREFIX, Client, part

PENDING = f"{PREFIX}indexnow:pending"
FLUSH = f"{PREFIX}indexnow:flush"
BATCHES = f"{PREFIX}indexnow:batches"
STATS = f"{PREFIX}indexnow:stats"
PENDING_MAX = 100_000
BATCH_MAX = 10_000  # IndexNow: at most 10,000 URLs per POST
FAILED_KEPT_S = 30 * 86400


def batch_key(batch_id: str) -> str:
    return f"{PREFIX}indexnow:batch:{part(batch_id)}"


def batch_lock_key(batch_id: str) -> str:
    return f"{PREFIX}indexnow:batch:{part(batch_id)}:lock"


def letter(batch_id: str) -> str:
    return f"indexnow:{batch_id}"


# KEYS: pending, flush flag, stats. ARGV: cap, flag expiry (ms), members. Returns {added, 1 if
# the caller must schedule a flush}.
_QUEUE = """
local n = redis.call('ZCARD', KEYS[1])
local added, dropped = 0, 0
for i = 3, #ARGV do
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) then
  elseif n + added < tonumber(ARGV[1]) then
    added = added + redis.call('ZADD', KEYS[1], 0, ARGV[i])
  else
    dropped = dropped + 1
  end
end
if dropped > 0 then redis.call('HINCRBY', KEYS[3], 'dropped', dropped) end
if redis.call('ZCARD', KEYS[1]) == 0 then return {added, 0} end
local fresh = redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[2])
return {added, fresh and 1 or 0}
"""

# Take one host's URLs (the host of the first member) as a new batch. KEYS: pending, flush flag,
# the batch's key, batches. ARGV: limit, batch id, now. Returns {host, count, left} or false.
_CLAIM = """
local first = redis.call('ZRANGE', KEYS[1], 0, 0)
if #first == 0 then
  redis.call('DEL', KEYS[2])
  return false
end
local host = string.match(first[1], '^(%S+) ')
local members = redis.call('ZRANGEBYLEX', KEYS[1], '[' .. host .. ' ', '[' .. host .. ' \\255',
                           'LIMIT', 0, tonumber(ARGV[1]))
local urls = {}
for i, m in ipairs(members) do
  urls[i] = string.sub(m, #host + 2)
end
for i = 1, #members, 500 do
  redis.call('ZREM', KEYS[1], unpack(members, i, math.min(i + 499, #members)))
end
redis.call('HSET', KEYS[3], 'host', host, 'urls', cjson.encode(urls), 'created_at', ARGV[3],
           'attempts', 0, 'state', 'open')
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[2])
local left = redis.call('ZCARD', KEYS[1])
if left == 0 then redis.call('DEL', KEYS[2]) end
return {host, #urls, left}
"""


class IndexNowQueue:
    def __init__(self, client: Client) -> None:
        self._r = client
        self._queue = client.register_script(_QUEUE)
        self._claim = client.register_script(_CLAIM)

    def queue(self, host_urls: list[tuple[str, str]], flag_ms: int) -> bool:
        """Queue (host, url) pairs; True if the caller is to schedule the flush."""
        members = [f"{host} {url}" for host, url in host_urls]
        if not members:
            return False
        _, schedule = self._queue(
            keys=[PENDING, FLUSH, STATS], args=[PENDING_MAX, max(int(flag_ms), 1), *members]
        )
        return bool(schedule)

    def claim(self, limit: int = BATCH_MAX) -> tuple[str, int, int] | None:
        """A new batch of one host's URLs taken from the pending ones: (id, URLs, still
        pending), or None when nothing is pending (the flush flag is cleared then)."""
        batch_id = f"{int(time.time())}-{secrets.token_hex(6)}"
        got = self._claim(
            keys=[PENDING, FLUSH, batch_key(batch_id), BATCHES],
            args=[min(limit, BATCH_MAX), batch_id, f"{time.time():.3f}"],
        )
        if not got:
            return None
        return batch_id, int(got[1]), int(got[2])

    def batch(self, batch_id: str) -> dict[str, Any] | None:
        raw = self._r.hgetall(batch_key(batch_id))
        if not raw:
            return None
        out: dict[str, Any] = {k.decode(): v.decode() for k, v in raw.items()}
        out["urls"] = json.loads(out.get("urls") or "[]")
        out["attempts"] = int(out.get("attempts") or 0)
        return out

    def open_batches(self, limit: int = 100) -> list[str]:
        return [m.decode() for m in self._r.zrange(BATCHES, 0, limit - 1)]

    def lock(self, batch_id: str, ttl_s: float) -> bool:
        return bool(self._r.set(batch_lock_key(batch_id), "1", nx=True, px=int(ttl_s * 1000)))

    def unlock(self, batch_id: str) -> None:
        self._r.delete(batch_lock_key(batch_id))

    def attempting(self, batch_id: str) -> int:
        """Record the intent before a POST; the attempt's number."""
        pipe = self._r.pipeline()
        pipe.hincrby(batch_key(batch_id), "attempts", 1)
        pipe.hset(batch_key(batch_id), "sending_at", f"{time.time():.3f}")
        return int(pipe.execute()[0])

    def submitted(self, batch_id: str, status: int, urls: int) -> None:
        """An engine took the batch: it is done (and its dead letter, if any, goes)."""
        pipe = self._r.pipeline()
        pipe.delete(batch_key(batch_id))
        pipe.zrem(BATCHES, batch_id)
        pipe.hincrby(STATS, "urls_submitted", urls)
        pipe.hincrby(STATS, "batches_submitted", 1)
        pipe.hset(STATS, mapping={"last_ok_at": f"{time.time():.3f}", "last_status": str(status)})
        dead.remove_in(pipe, letter(batch_id))
        pipe.execute()

    def failed(self, batch_id: str, status: int | None, reason: str, final: bool) -> None:
        """Record a failed attempt; `final` (refused, or out of retries) ends the batch."""
        key = batch_key(batch_id)
        pipe = self._r.pipeline()
        pipe.hset(
            key,
            mapping={
                "last_status": "" if status is None else str(status),
                "last_error": reason[:300],
                "state": "failed" if final else "open",
            },
        )
        if final:
            pipe.zrem(BATCHES, batch_id)
            pipe.expire(key, FAILED_KEPT_S)
            pipe.hincrby(STATS, "batches_failed", 1)
        pipe.execute()

    def reopen(self, batch_id: str) -> bool:
        """A replay: the failed batch gets a fresh set of attempts. False if it is gone."""
        key = batch_key(batch_id)
        if not self._r.exists(key):
            return False
        pipe = self._r.pipeline()
        pipe.hset(key, mapping={"attempts": 0, "state": "open"})
        pipe.persist(key)
        pipe.zadd(BATCHES, {batch_id: time.time()})
        pipe.execute()
        return True

    def stats(self) -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in self._r.hgetall(STATS).items()}
