"""The fediverse's state (CONTRACT §7; worker/fediverse.py does the work): each actor's key
pair, the followers of each actor with the inbox they are delivered to (their shared inbox if
they have one), the deliveries (the intent before each POST, the result after), which inboxes
received each article, the cache of remote actors' keys, per-host follow counters and per-host
delivery backoff.

A private key is created once per actor (HSETNX: the first writer wins, every process then
reads the same) and leaves this module only to sign: never listed, logged or answered.
Deliveries are named by `did`, a hash of (activity id, inbox): an activity reaches an inbox at
most once whatever reruns, replays or crashes happen, as its state says `sent` after the first
2xx. Inbox URLs are named on the broker and in dead letters by `tid`, a hash of the URL.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from typing import Any

from worker.store import dead
from worker.store._prefix import PREFIX, Client, part

KEYS = f"{PREFIX}ap:keys"  # hash username -> private key (PEM, PKCS#8)
ACTORS = f"{PREFIX}ap:actors"  # set of usernames with followers
TARGETS = f"{PREFIX}ap:targets"  # hash tid -> inbox URL
FAILING = f"{PREFIX}ap:failing"  # zset did -> last failure (epoch s)
COUNTS = f"{PREFIX}ap:counts"  # hash outcome -> number
BODY_TTL_S = 30 * 86400
OUTCOMES = ("followed", "unfollowed", "refused", "delivered", "failed", "gone", "dead")


def followers_key(user: str) -> str:
    """hash follower actor id -> JSON {inbox (the delivery target), follow (its id), host}."""
    return f"{PREFIX}ap:followers:{part(user)}"


def delivery_key(did: str) -> str:
    """hash: activity, tid, host, article, kind, by (the sending actor), state (queued|sending|sent|gone),
    failures, last_error, sending_at, sent_at."""
    return f"{PREFIX}ap:delivery:{did}"


def body_key(activity_id: str) -> str:
    """string (expires): one activity's JSON, shared by every inbox it goes to."""
    return f"{PREFIX}ap:body:{_hash(activity_id)}"


def received_key(article_id: str) -> str:
    """set of tids: the inboxes an article's Create or Announce was sent to."""
    return f"{PREFIX}ap:received:{part(article_id)}"


def remote_key(key_id: str) -> str:
    """string (expires): a remote key as fetched: JSON {owner, pem, inbox}."""
    return f"{PREFIX}ap:remote:{_hash(key_id)}"


def flood_key(host: str) -> str:
    """counter (expires in an hour): Follows accepted from one remote host."""
    return f"{PREFIX}ap:flood:{part(host)}"


def host_key(host: str) -> str:
    """hash failures, retry_at: one remote host's delivery backoff."""
    return f"{PREFIX}ap:host:{part(host)}"


def lock_key(did: str) -> str:
    return f"{PREFIX}ap:lock:{did}"


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def target_id(inbox: str) -> str:
    return _hash(inbox)


def delivery_id(activity_id: str, tid: str) -> str:
    return _hash(f"{activity_id}\n{tid}")


# KEYS: followers, ACTORS, flood, COUNTS. ARGV: follower, record, user, max_total, max_per_hour.
# A new follower must fit the bounds; a known one is updated (it counts once, and keeps when it
# first followed: a story published since goes to it).
_FOLLOW = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
local known = old ~= false
local record = ARGV[2]
if not known then
  if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then return 'full' end
  local n = redis.call('INCR', KEYS[3])
  if n == 1 then redis.call('EXPIRE', KEYS[3], 3600) end
  if n > tonumber(ARGV[5]) then return 'flood' end
else
  local ok, before = pcall(cjson.decode, old)
  if ok and type(before) == 'table' and before.since then
    local now = cjson.decode(record)
    now.since = before.since
    record = cjson.encode(now)
  end
end
redis.call('HSET', KEYS[1], ARGV[1], record)
redis.call('SADD', KEYS[2], ARGV[3])
redis.call('HINCRBY', KEYS[4], 'followed', 1)
return known and 'again' or 'new'
"""

_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Fediverse:
    def __init__(self, client: Client) -> None:
        self._r = client
        self._follow = client.register_script(_FOLLOW)
        self._unlock = client.register_script(_UNLOCK)

    # Keys -------------------------------------------------------------------------------------
    def private_key(self, user: str, make: Any) -> bytes:
        """The actor's private key (PEM); `make()` creates one if it has none yet (once: the
        first writer wins)."""
        pem = self._r.hget(KEYS, user)
        if pem is None:
            self._r.hsetnx(KEYS, user, make())
            pem = self._r.hget(KEYS, user)
        return bytes(pem)

    # Followers --------------------------------------------------------------------------------
    def follow(
        self,
        user: str,
        follower: str,
        inbox: str,
        follow_id: str,
        host: str,
        max_total: int,
        max_per_hour: int,
    ) -> str:
        """`new`, `again` (known: counts once), or `full` / `flood` (nothing stored)."""
        record = json.dumps(
            {"inbox": inbox, "follow": follow_id, "host": host, "since": round(time.time(), 3)}
        )
        return self._follow(
            keys=[followers_key(user), ACTORS, flood_key(host), COUNTS],
            args=[follower, record, user, max_total, max_per_hour],
        ).decode()

    def unfollow(self, user: str, follower: str, follow_id: str = "") -> bool:
        """Remove a follower (if `follow_id` is given, only when it is that Follow's)."""
        raw = self._r.hget(followers_key(user), follower)
        if raw is None:
            return False
        if follow_id and json.loads(raw).get("follow") not in (follow_id, ""):
            return False
        self._r.hdel(followers_key(user), follower)
        self._r.hincrby(COUNTS, "unfollowed", 1)
        self._prune(user)
        return True

    def _prune(self, user: str) -> None:
        """An actor whose last follower left is no longer among those `followed`."""
        if not self._r.hlen(followers_key(user)):
            self._r.srem(ACTORS, user)

    def followed(self) -> list[str]:
        """The usernames of our actors that have followers (a few, not every feed)."""
        return sorted(raw.decode() for raw in self._r.smembers(ACTORS))

    def following(self, follower: str) -> dict[str, dict[str, Any]]:
        """The actors `follower` follows, with its record at each: two round trips however
        many actors have followers (an inbound Undo or Delete must not cost one per feed)."""
        users = self.followed()
        pipe = self._r.pipeline(transaction=False)
        for user in users:
            pipe.hget(followers_key(user), follower)
        return {u: json.loads(raw) for u, raw in zip(users, pipe.execute()) if raw is not None}

    def forget(self, follower: str) -> int:
        """A remote account is gone (its own `Delete`): it follows nothing here any more."""
        removed = 0
        for user in self.following(follower):
            removed += int(self._r.hdel(followers_key(user), follower))
            self._prune(user)
        if removed:
            self._r.hincrby(COUNTS, "unfollowed", removed)
        return removed

    def followers(self, user: str) -> dict[str, dict[str, str]]:
        return {k.decode(): json.loads(v) for k, v in self._r.hgetall(followers_key(user)).items()}

    def follower_count(self, user: str) -> int:
        return int(self._r.hlen(followers_key(user)))

    def targets_of(self, user: str, following_at: float | None = None) -> set[str]:
        """The distinct inboxes the followers of `user` are delivered to (those that followed
        by `following_at`, if given: a story goes to who followed when it was published)."""
        return {
            f["inbox"]
            for f in self.followers(user).values()
            if following_at is None or float(f.get("since") or 0) <= following_at
        }

    def remove_inbox(self, inbox: str) -> int:
        """An inbox answered 410: every follower delivered there goes."""
        removed = 0
        for raw in self._r.smembers(ACTORS):
            user = raw.decode()
            gone = [f for f, rec in self.followers(user).items() if rec["inbox"] == inbox]
            if gone:
                removed += int(self._r.hdel(followers_key(user), *gone))
                self._prune(user)
        return removed

    # Deliveries -------------------------------------------------------------------------------
    def plan(
        self,
        activity: dict[str, Any],
        kind: str,
        by: str,
        article_id: str,
        inboxes: set[str],
        host_of: Any,
    ) -> list[str]:
        """Record the deliveries of one activity to `inboxes`; the dids new or not yet sent."""
        body = json.dumps(activity, separators=(",", ":"))
        pipe = self._r.pipeline()
        pipe.set(body_key(activity["id"]), body, ex=BODY_TTL_S)
        dids = []
        for inbox in sorted(inboxes):
            tid = target_id(inbox)
            did = delivery_id(activity["id"], tid)
            dids.append(did)
            pipe.hset(TARGETS, tid, inbox)
            pipe.hsetnx(delivery_key(did), "state", "queued")
            pipe.hset(
                delivery_key(did),
                mapping={
                    "activity": activity["id"],
                    "tid": tid,
                    "host": host_of(inbox),
                    "article": article_id,
                    "kind": kind,
                    "by": by,
                },
            )
            if kind in ("create", "announce") and article_id:
                pipe.sadd(received_key(article_id), tid)
        pipe.execute()
        states = self._r.pipeline(transaction=False)
        for did in dids:
            states.hget(delivery_key(did), "state")
        return [d for d, s in zip(dids, states.execute()) if s != b"sent"]

    def received(self, article_id: str) -> set[str]:
        """The inbox URLs that were sent the article's Create or an Announce of it."""
        tids = [t.decode() for t in self._r.smembers(received_key(article_id))]
        urls = self._r.hmget(TARGETS, tids) if tids else []
        return {u.decode() for u in urls if u}

    def delivery(self, did: str) -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in self._r.hgetall(delivery_key(did)).items()}

    def body(self, activity_id: str) -> bytes | None:
        raw = self._r.get(body_key(activity_id))
        return bytes(raw) if raw is not None else None

    def inbox(self, tid: str) -> str:
        raw = self._r.hget(TARGETS, tid)
        return raw.decode() if raw else ""

    def lock(self, did: str, ttl_s: float) -> str | None:
        token = secrets.token_hex(8)
        return token if self._r.set(lock_key(did), token, nx=True, px=int(ttl_s * 1000)) else None

    def unlock(self, did: str, token: str) -> None:
        self._unlock(keys=[lock_key(did)], args=[token])

    def sending(self, did: str) -> None:
        """The intent, recorded before the POST."""
        self._r.hset(
            delivery_key(did), mapping={"state": "sending", "sending_at": f"{time.time():.3f}"}
        )

    def sent(self, did: str, host: str, letter: str) -> None:
        pipe = self._r.pipeline()
        pipe.hset(
            delivery_key(did),
            mapping={
                "state": "sent",
                "sent_at": f"{time.time():.3f}",
                "failures": 0,
                "last_error": "",
            },
        )
        pipe.zrem(FAILING, did)
        pipe.delete(host_key(host))
        pipe.hincrby(COUNTS, "delivered", 1)
        dead.remove_in(pipe, letter)
        pipe.execute()

    def gone(self, did: str, letter: str) -> None:
        pipe = self._r.pipeline()
        pipe.hset(delivery_key(did), "state", "gone")
        pipe.zrem(FAILING, did)
        pipe.hincrby(COUNTS, "gone", 1)
        dead.remove_in(pipe, letter)
        pipe.execute()

    def failed(self, did: str, host: str, reason: str) -> tuple[int, int]:
        """(failures of this delivery, failures of its host) in a row."""
        pipe = self._r.pipeline()
        pipe.hincrby(delivery_key(did), "failures", 1)
        pipe.hset(delivery_key(did), mapping={"state": "queued", "last_error": reason[:200]})
        pipe.hincrby(host_key(host), "failures", 1)
        pipe.expire(host_key(host), 86400)
        pipe.zadd(FAILING, {did: time.time()})
        pipe.hincrby(COUNTS, "failed", 1)
        out = pipe.execute()
        return int(out[0]), int(out[2])

    def host_retry_at(self, host: str) -> float:
        return float(self._r.hget(host_key(host), "retry_at") or 0)

    def hold_host(self, host: str, until: float) -> None:
        self._r.hset(host_key(host), "retry_at", f"{until:.3f}")

    def reset(self, did: str, host: str) -> None:
        """A replay: fresh retries for the delivery and its host."""
        pipe = self._r.pipeline()
        pipe.hset(delivery_key(did), "failures", 0)
        pipe.delete(host_key(host))
        pipe.execute()

    def count(self, outcome: str) -> None:
        self._r.hincrby(COUNTS, outcome, 1)

    # Remote keys ------------------------------------------------------------------------------
    def remote(self, key_id: str) -> dict[str, str] | None:
        raw = self._r.get(remote_key(key_id))
        return json.loads(raw) if raw else None

    def remember_remote(self, key_id: str, record: dict[str, str], ttl_s: int) -> None:
        self._r.set(remote_key(key_id), json.dumps(record), ex=ttl_s)

    # What the status page and /metrics show ---------------------------------------------------
    def listing(self) -> dict[str, Any]:
        actors = sorted(a.decode() for a in self._r.smembers(ACTORS))
        pipe = self._r.pipeline(transaction=False)
        for user in actors:
            pipe.hlen(followers_key(user))
        per = {u: int(n) for u, n in zip(actors, pipe.execute()) if n}
        counts = {k.decode(): int(v) for k, v in self._r.hgetall(COUNTS).items()}
        return {
            "followers": sum(per.values()),
            "actors": per,
            "failing": int(self._r.zcard(FAILING)),
            "counts": {k: counts.get(k, 0) for k in OUTCOMES},
        }
