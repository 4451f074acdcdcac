"""Accepted events: one hash each, plus the recent list and the sweeper's list of unfinished
ones. A record (body included) expires after the retention period; so does the dedup of its id.

hash `syn:event:<id>`: status (queued|processing|done|failed), type, article_id, body (the JSON
as received), received_at, finished_at, attempts, result (JSON: what the event changed), error,
traceparent (W3C trace context, worker/trace.py).
"""

from __future__ import annotations

import json
import time
from typing import Any

from syndicate.logs import mask
from worker.store import dead, schedule
from worker.store._prefix import PREFIX, Client, part

RECENT = f"{PREFIX}events:recent"  # zset event id -> accepted at, trimmed to RECENT_KEPT
UNFINISHED = f"{PREFIX}events:unfinished"  # zset event id -> accepted, due or taken at
READY = f"{PREFIX}events:ready"  # list of event ids the appliers take, oldest at the right
PAUSED = f"{PREFIX}events:paused"  # while it exists, the appliers take nothing (the bench)
RECENT_KEPT = 1000
SUMMARY_FIELDS = (
    "status",
    "type",
    "article_id",
    "received_at",
    "finished_at",
    "result",
    "error",
    "attempts",
)


def event_key(event_id: str) -> str:
    return f"{PREFIX}event:{event_id}"


def article_events_key(article_id: str) -> str:
    """zset event id -> accepted at: one article's events (what `purge` removes)."""
    return f"{PREFIX}article:{part(article_id)}:events"


# KEYS: event hash, recent, unfinished, the article's events, ready. ARGV: type, article id,
# body, now, event id, recent kept, retention (s), traceparent. Recorded and queued at once.
_ACCEPT = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'status', 'queued', 'type', ARGV[1], 'article_id', ARGV[2],
           'body', ARGV[3], 'received_at', ARGV[4], 'attempts', 0, 'traceparent', ARGV[8])
redis.call('EXPIRE', KEYS[1], ARGV[7])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[5])
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -tonumber(ARGV[6]) - 1)
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', tonumber(ARGV[4]) - tonumber(ARGV[7]))
redis.call('EXPIRE', KEYS[4], ARGV[7])
redis.call('LPUSH', KEYS[5], ARGV[5])
return 1
"""

# KEYS: ready, unfinished, paused. ARGV: how many, now, an id already popped (or ''), the event
# key prefix. Up to `how many` ids from the ready list, each marked taken now (`processing`, one
# more attempt, and its time in unfinished: the sweeper waits a full period from here); none
# while paused (one already popped goes back).
_TAKE = """
if redis.call('EXISTS', KEYS[3]) == 1 then
  if ARGV[3] ~= '' then redis.call('RPUSH', KEYS[1], ARGV[3]) end
  return false
end
local ids = redis.call('RPOP', KEYS[1], tonumber(ARGV[1])) or {}
if ARGV[3] ~= '' then table.insert(ids, 1, ARGV[3]) end
for _, id in ipairs(ids) do
  if redis.call('ZADD', KEYS[2], 'XX', 'CH', ARGV[2], id) == 1 then
    redis.call('HSET', ARGV[4] .. id, 'status', 'processing')
    redis.call('HINCRBY', ARGV[4] .. id, 'attempts', 1)
  end
end
return ids
"""

# KEYS: unfinished, ready. ARGV: older than (epoch s), now, at most, the event key prefix.
# Events taken (`processing`) before `older than` and not finished (their applier died) queued
# again, each once a period; events still waiting in the ready list or for a retry are left.
_STALE = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(ids) do
  if redis.call('HGET', ARGV[4] .. id, 'status') == 'processing' then
    redis.call('ZADD', KEYS[1], ARGV[2], id)
    redis.call('LPUSH', KEYS[2], id)
    table.insert(out, id)
  end
end
return out
"""


# KEYS: event hash, unfinished, dead letters, their replayed marks, their reasons. ARGV: event
# id, status, finished at, result, error, the letter's name, its reason, now. An event's outcome,
# unless a takedown removed its record meanwhile (then only its unfinished entry goes: nothing of
# it comes back). `failed` dead-letters it; `done` takes a letter of it (from before a replay) off.
_FINISH = """
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'finished_at', ARGV[3], 'result', ARGV[4],
           'error', ARGV[5])
if ARGV[2] == 'failed' then
  redis.call('ZADD', KEYS[3], ARGV[8], ARGV[6])
  redis.call('HDEL', KEYS[4], ARGV[6])
  redis.call('HSET', KEYS[5], ARGV[6], ARGV[7])
else
  redis.call('ZREM', KEYS[3], ARGV[6])
  redis.call('HDEL', KEYS[4], ARGV[6])
  redis.call('HDEL', KEYS[5], ARGV[6])
end
return 1
"""


class Events:
    def __init__(self, client: Client, retention_s: int) -> None:
        self._r = client
        self.retention_s = retention_s
        self._accept = client.register_script(_ACCEPT)
        self._take = client.register_script(_TAKE)
        self._stale = client.register_script(_STALE)
        self._finish = client.register_script(_FINISH)

    def accept(
        self, event_id: str, event_type: str, article_id: str, body: str, traceparent: str = ""
    ) -> bool:
        """Record a new event and queue it for the appliers, in one step; False if this event id
        was seen within the retention."""
        return bool(
            self._accept(
                keys=[
                    event_key(event_id),
                    RECENT,
                    UNFINISHED,
                    article_events_key(article_id),
                    READY,
                ],
                args=[
                    event_type,
                    article_id,
                    body,
                    f"{time.time():.6f}",
                    event_id,
                    RECENT_KEPT,
                    self.retention_s,
                    traceparent,
                ],
            )
        )

    def push(self, event_ids: list[str]) -> None:
        """Queue recorded events again for the appliers (a retry that is due, a replay)."""
        if event_ids:
            self._r.lpush(READY, *event_ids)

    def take(self, count: int, block_s: float) -> list[str]:
        """Up to `count` queued event ids, oldest first, waiting up to `block_s` for the first;
        each is marked taken, so the sweeper queues it again only if it is not finished a full
        period later (its applier died)."""
        where, prefix = [READY, UNFINISHED, PAUSED], event_key("")
        ids = self._take(keys=where, args=[count, f"{time.time():.6f}", "", prefix])
        if ids is None:  # paused
            time.sleep(block_s)
            return []
        if not ids and block_s > 0:
            first = self._r.brpop([READY], timeout=block_s)
            if first is None:
                return []
            ids = (
                self._take(keys=where, args=[count - 1, f"{time.time():.6f}", first[1], prefix])
                or []
            )
        return [i.decode() for i in ids]

    def pause(self, paused: bool) -> None:
        """Stop (or let go on) the appliers taking events; accepted events wait in the queue.
        The bench starts workers paused, so that several begin on one backlog together."""
        if paused:
            self._r.set(PAUSED, "1")
        else:
            self._r.delete(PAUSED)

    def waiting(self) -> int:
        """Events queued for the appliers and not taken yet."""
        return int(self._r.llen(READY))

    def requeue_stale(self, older_than: float, limit: int = 1000) -> list[str]:
        """Events taken by an applier more than `older_than` seconds ago and not finished:
        queued again (their applier was killed); each at most once per `older_than`."""
        now = time.time()
        ids = self._stale(
            keys=[UNFINISHED, READY],
            args=[f"{now - older_than:.6f}", f"{now:.6f}", limit, event_key("")],
        )
        return [i.decode() for i in ids]

    def get(self, event_id: str) -> dict[str, str] | None:
        data = self._r.hgetall(event_key(event_id))
        return {k.decode(): v.decode() for k, v in data.items()} if data else None

    def get_many(self, event_ids: list[str]) -> list[dict[str, str] | None]:
        """The records of many events in one round trip (None for one that is gone)."""
        pipe = self._r.pipeline(transaction=False)
        for event_id in event_ids:
            pipe.hgetall(event_key(event_id))
        return [
            {k.decode(): v.decode() for k, v in data.items()} if data else None
            for data in pipe.execute()
        ]

    def summaries(self, event_ids: list[str]) -> dict[str, dict[str, str]]:
        """The status fields of many events in one round trip, without their bodies."""
        pipe = self._r.pipeline(transaction=False)
        for event_id in event_ids:
            pipe.hmget(event_key(event_id), *SUMMARY_FIELDS)
        out = {}
        for event_id, values in zip(event_ids, pipe.execute()):
            if values[0] is not None:
                out[event_id] = {
                    name: (v or b"").decode() for name, v in zip(SUMMARY_FIELDS, values)
                }
        return out

    def recent_ids(self, limit: int = 20) -> list[str]:
        if limit <= 0:
            return []
        return [e.decode() for e in self._r.zrevrange(RECENT, 0, limit - 1)]

    def start(self, event_id: str) -> None:
        pipe = self._r.pipeline()
        pipe.hset(event_key(event_id), "status", "processing")
        pipe.hincrby(event_key(event_id), "attempts", 1)
        pipe.execute()

    def finish(self, event_id: str, status: str, result: dict | None, error: str = "") -> None:
        """done (a dead letter of it, from before a replay, goes) or failed (dead-lettered), in
        one step; nothing is written back if a takedown removed the event meanwhile."""
        now = time.time()
        reason = dead.reason_of(error, dead.Reason.INTERNAL) if status == "failed" else ""
        self._finish(
            keys=[event_key(event_id), UNFINISHED, dead.DEAD, dead.REPLAYED, dead.REASONS],
            args=[
                event_id,
                status,
                f"{now:.6f}",
                json.dumps(result or {}),
                mask(error)[:500],
                dead.event_letter(event_id),
                dead.Reason(reason).value if reason else "",
                f"{now:.6f}",
            ],
        )

    def retry(self, event_id: str, reason: str, due_in_s: float) -> None:
        """Back to queued with its reason; the scheduler queues it again in `due_in_s` seconds."""
        pipe = self._r.pipeline()
        pipe.hset(event_key(event_id), mapping={"status": "queued", "error": mask(reason)[:500]})
        pipe.zadd(UNFINISHED, {event_id: time.time() + due_in_s})
        schedule.add_in(pipe, "event", [event_id], due_in_s)
        pipe.execute()

    def unfinished(self, older_than: float) -> list[str]:
        ids = self._r.zrangebyscore(UNFINISHED, "-inf", time.time() - older_than)
        return [e.decode() for e in ids]

    def requeue(self, event_id: str) -> bool:
        """A failed event back to queued with fresh attempts (for `replay`); False if it is
        not failed."""
        key = event_key(event_id)
        if self._r.hget(key, "status") != b"failed":
            return False
        pipe = self._r.pipeline()
        pipe.hset(
            key, mapping={"status": "queued", "attempts": 0, "replayed_at": f"{time.time():.3f}"}
        )
        pipe.zadd(UNFINISHED, {event_id: time.time()})
        pipe.execute()
        return True


def remove_in(pipe: Any, event_ids: list[str], article_id: str) -> None:
    """Every trace of these events (a purge), inside the caller's transaction."""
    for event_id in event_ids:
        pipe.delete(event_key(event_id))
        pipe.zrem(RECENT, event_id)
        pipe.zrem(UNFINISHED, event_id)
        dead.remove_in(pipe, dead.event_letter(event_id))
    pipe.delete(article_events_key(article_id))
