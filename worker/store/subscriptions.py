"""Our own WebSub hub's state: subscription requests waiting for verification of intent, the
verified subscriptions with their leases, each one's delivery progress, and the per-host
delivery backoff (worker/hub.py does the work; api/hub.py takes the requests).

A subscription is named by `sid`, a hash of (topic, callback) (WebSub §5.1: state is keyed by
both), so a callback URL (which may carry a token of the subscriber's) is never part of a key, a
broker message or a dead letter's name. The secret is kept in the subscription's hash (needed to
sign each delivery) and nowhere else: never returned by `listing`, never logged.

Bounds hold atomically (the Lua scripts in worker/store/subscription_scripts.py): subscriptions
and pending requests together at most `max_total`, and at most `max_per_host` per callback host
(port ignored). A lease ends at `expires_at`; expired subscriptions get no delivery and are
removed by `purge_expired`.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

from worker.store import dead
from worker.store import subscription_scripts as scripts
from worker.store._prefix import PREFIX, Client, part

SUBS = f"{PREFIX}hub:subs"  # zset sid -> lease ends (epoch s)
INTENTS = f"{PREFIX}hub:intents"  # zset sid -> request expires (epoch s): waiting for verification
HOSTS = f"{PREFIX}hub:hosts"  # hash "a:<host>" (verified) / "p:<host>" (pending) -> count
TOPICS = f"{PREFIX}hub:topics"  # hash topic URL -> verified subscriptions
FAILING = f"{PREFIX}hub:failing"  # zset sid -> last failed delivery (epoch s)
COUNTS = f"{PREFIX}hub:counts"  # hash outcome -> number (delivered, failed, gone, ...)
INTENT_TTL_S = 600  # a request not verified by then is forgotten

OUTCOMES = (
    "requested",
    "verified",
    "verify_failed",
    "unsubscribed",
    "delivered",
    "failed",
    "gone",
    "expired",
)


def sub_key(sid: str) -> str:
    """hash: topic, feed, fmt, callback, host, origin, secret, lease_s, expires_at, verified_at,
    delivered_etag, delivered_at, sending_etag, sending_at, failures, last_error."""
    return f"{PREFIX}hub:sub:{sid}"


def intent_key(sid: str) -> str:
    """hash (expires): rid, mode, topic, feed, fmt, callback, host, origin, lease_s, secret."""
    return f"{PREFIX}hub:intent:{sid}"


def feed_subs_key(feed_key: str) -> str:
    """zset sid -> lease ends: the subscriptions of every format of one feed."""
    return f"{PREFIX}hub:feed:{part(feed_key)}"


def host_key(origin: str) -> str:
    """hash failures, retry_at: one callback origin's delivery backoff."""
    return f"{PREFIX}hub:host:{part(origin)}"


def lock_key(sid: str) -> str:
    """string (SET NX, expires): the delivery under way to one subscription."""
    return f"{PREFIX}hub:lock:{sid}"


def subscription_id(topic: str, callback: str) -> str:
    return hashlib.sha256(f"{topic}\n{callback}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Subscription:
    sid: str
    topic: str
    feed: str
    fmt: str
    callback: str
    host: str
    origin: str
    secret: str
    expires_at: float
    delivered_etag: str
    failures: int
    last_error: str


def _text(raw: dict[bytes, bytes]) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in raw.items()}


class Subscriptions:
    def __init__(self, client: Client) -> None:
        self._r = client
        self._request = client.register_script(scripts.REQUEST)
        self._finish = client.register_script(scripts.FINISH)
        self._remove = client.register_script(scripts.REMOVE)
        self._unlock = client.register_script(scripts.UNLOCK)
        self._delivered = client.register_script(scripts.DELIVERED)
        self._failed = client.register_script(scripts.FAILED)

    # Requests and verification --------------------------------------------------------------
    def request(
        self,
        *,
        mode: str,
        topic: str,
        feed: str,
        fmt: str,
        callback: str,
        host: str,
        origin: str,
        lease_s: int,
        secret: str,
        max_total: int,
        max_per_host: int,
    ) -> tuple[str, str, str]:
        """Record a (un)subscribe request to verify: ('ok', sid, rid), or ('total'|'host', ...)
        when it would break a bound (nothing is recorded then)."""
        self.purge_expired()
        sid, rid = subscription_id(topic, callback), secrets.token_hex(16)
        fields = {
            "rid": rid,
            "mode": mode,
            "topic": topic,
            "feed": feed,
            "fmt": fmt,
            "callback": callback,
            "host": host,
            "origin": origin,
            "lease_s": str(lease_s),
            "secret": secret,
        }
        pairs = [x for kv in fields.items() for x in kv]
        outcome = self._request(
            keys=[SUBS, INTENTS, HOSTS, intent_key(sid)],
            args=[sid, host, max_total, max_per_host, f"{time.time() + INTENT_TTL_S:.3f}", *pairs],
        )
        if outcome == b"ok":
            self._r.hincrby(COUNTS, "requested", 1)
        return outcome.decode(), sid, rid

    def intent(self, sid: str, rid: str) -> dict[str, str] | None:
        """The pending request `rid` for `sid` (None: answered, superseded or expired)."""
        raw = _text(self._r.hgetall(intent_key(sid)))
        return raw if raw.get("rid") == rid else None

    def finish(self, sid: str, rid: str, feed: str, verified: bool, max_total: int) -> str:
        """End a pending request: `subscribed` (or renewed), `unsubscribed`, `failed`, `full`
        or `superseded` (a newer request for the same topic and callback replaced it)."""
        return self._finish(
            keys=[
                SUBS,
                INTENTS,
                HOSTS,
                intent_key(sid),
                sub_key(sid),
                feed_subs_key(feed),
                TOPICS,
                FAILING,
                COUNTS,
                dead.DEAD,
                dead.REPLAYED,
            ],
            args=[sid, rid, "1" if verified else "0", f"{time.time():.3f}", max_total],
        ).decode()

    # Subscriptions ---------------------------------------------------------------------------
    def get(self, sid: str) -> Subscription | None:
        raw = _text(self._r.hgetall(sub_key(sid)))
        if not raw.get("topic"):
            return None
        return Subscription(
            sid,
            raw["topic"],
            raw["feed"],
            raw["fmt"],
            raw["callback"],
            raw["host"],
            raw.get("origin", raw["host"]),
            raw.get("secret", ""),
            float(raw.get("expires_at") or 0),
            raw.get("delivered_etag", ""),
            int(raw.get("failures") or 0),
            raw.get("last_error", ""),
        )

    def of_feed(self, feed_key: str) -> list[str]:
        """The sids with a running lease on any format of the feed."""
        return [
            m.decode()
            for m in self._r.zrangebyscore(feed_subs_key(feed_key), f"({time.time():.3f}", "+inf")
        ]

    def remove(
        self, sid: str, feed: str, outcome: str, lease_ended_before: float | None = None
    ) -> bool:
        """Remove a subscription (`outcome`: gone, expired); with `lease_ended_before`, only if
        its lease ended by then."""
        before = "inf" if lease_ended_before is None else f"{lease_ended_before:.3f}"
        return bool(
            self._remove(
                keys=[
                    SUBS,
                    HOSTS,
                    sub_key(sid),
                    feed_subs_key(feed),
                    TOPICS,
                    FAILING,
                    COUNTS,
                    dead.DEAD,
                    dead.REPLAYED,
                ],
                args=[sid, outcome, before],
            )
        )

    def purge_expired(self, limit: int = 1000) -> int:
        """Remove up to `limit` subscriptions whose lease has ended."""
        now = time.time()
        removed = 0
        for raw in self._r.zrangebyscore(SUBS, "-inf", f"{now:.3f}", start=0, num=limit):
            sid = raw.decode()
            feed = (self._r.hget(sub_key(sid), "feed") or b"").decode()
            removed += self.remove(sid, feed, "expired", lease_ended_before=now)
        return removed

    # Deliveries ------------------------------------------------------------------------------
    def lock(self, sid: str, ttl_s: float) -> str | None:
        token = secrets.token_hex(8)
        return token if self._r.set(lock_key(sid), token, nx=True, px=int(ttl_s * 1000)) else None

    def unlock(self, sid: str, token: str) -> None:
        self._unlock(keys=[lock_key(sid)], args=[token])

    def sending(self, sid: str, etag: str) -> None:
        """The intent, recorded before the POST."""
        self._r.hset(
            sub_key(sid), mapping={"sending_etag": etag, "sending_at": f"{time.time():.3f}"}
        )

    def delivered(self, sid: str, etag: str, origin: str) -> None:
        """The result, recorded after a 2xx: the callback has this version now (a subscription
        removed meanwhile stays removed)."""
        self._delivered(
            keys=[sub_key(sid), FAILING, host_key(origin), COUNTS, dead.DEAD, dead.REPLAYED],
            args=[sid, etag, f"{time.time():.3f}"],
        )

    def failed(self, sid: str, origin: str, reason: str) -> tuple[int, int]:
        """A failed delivery: (failures of this subscription, failures of its origin) in a row
        (0 failures: the subscription is gone meanwhile)."""
        out = self._failed(
            keys=[sub_key(sid), host_key(origin), FAILING, COUNTS],
            args=[sid, reason[:200], f"{time.time():.3f}"],
        )
        return int(out[0]), int(out[1])

    def host_retry_at(self, origin: str) -> float:
        return float(self._r.hget(host_key(origin), "retry_at") or 0)

    def hold_host(self, origin: str, until: float) -> None:
        """Deliveries to this origin wait until `until` (its backoff)."""
        self._r.hset(host_key(origin), "retry_at", f"{until:.3f}")

    def reset(self, sid: str, origin: str) -> None:
        """A replay: fresh retries for the subscription and its origin."""
        pipe = self._r.pipeline()
        pipe.hset(sub_key(sid), "failures", 0)
        pipe.delete(host_key(origin))
        pipe.execute()

    # What the status page, `status --json` and /metrics show ----------------------------------
    def listing(self, limit: int = 50) -> dict[str, Any]:
        """Counts, the topics with the most subscribers, and the failing callbacks (by host and
        topic: a callback's path and query may hold the subscriber's token). No secret."""
        topics = (
            sorted(
                ((t.decode(), int(n)) for t, n in self._r.hgetall(TOPICS).items()),
                key=lambda tn: (-tn[1], tn[0]),
            )[:limit]
            if limit > 0
            else []
        )
        failing = []
        rows = self._r.zrevrange(FAILING, 0, limit - 1, withscores=True) if limit > 0 else []
        for raw, at in rows:
            sid = raw.decode()
            fields = self._r.hmget(sub_key(sid), "host", "topic", "failures", "last_error")
            host, topic, failures, error = ((v or b"").decode() for v in fields)
            if topic:
                failing.append(
                    {
                        "subscription": sid,
                        "host": host,
                        "topic": topic,
                        "failures": int(failures or 0),
                        "error": error,
                        "failed_at": at,
                    }
                )
        counts = {k: int(v) for k, v in _text(self._r.hgetall(COUNTS)).items()}
        return {
            "subscriptions": int(self._r.zcard(SUBS)),
            "pending": int(self._r.zcard(INTENTS)),
            "failing": int(self._r.zcard(FAILING)),
            "topics": topics,
            "failing_callbacks": failing,
            "counts": {k: counts.get(k, 0) for k in OUTCOMES},
        }
