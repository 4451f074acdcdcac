"""Dead letters: units of work that ran out of retries, by name, with when they failed.

Names: `event:<id>`, `delivery:<article>:<network>`, `render:<feed>`, `ping:<feed>:<hub>`,
`hubdelivery:<subscription id>` (our own hub's deliveries to a callback), `indexnow:<batch id>`,
`podping:<feed>`, `fediverse:<delivery id>` (an activity to a fediverse inbox). A
letter leaves the list when its unit of work next succeeds (each domain removes its own), or is
recorded again with a new time when it fails again; a replay only marks it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis

from worker.store._prefix import PREFIX, Client

DEAD = f"{PREFIX}dead"  # zset name -> failed at (epoch s)
REPLAYED = f"{PREFIX}dead:replayed"  # hash name -> replayed at (epoch s)


def event_letter(event_id: str) -> str:
    return f"event:{event_id}"


def delivery_letter(article_id: str, network: str) -> str:
    return f"delivery:{article_id}:{network}"


def render_letter(feed_key: str) -> str:
    return f"render:{feed_key}"


def ping_letter(feed_key: str, hub: str) -> str:
    return f"ping:{feed_key}:{hub}"


def hub_delivery_letter(sid: str) -> str:
    return f"hubdelivery:{sid}"


@dataclass(frozen=True)
class Letter:
    name: str
    kind: str  # event | delivery | render | ping | hubdelivery | indexnow | podping
    failed_at: float
    event_id: str = ""
    article_id: str = ""
    network: str = ""
    feed: str = ""
    hub: str = ""
    replayed_at: float | None = None
    subscription: str = ""  # hubdelivery: the subscription id
    batch: str = ""  # indexnow: the batch id (worker/store/indexnow.py)
    delivery: str = ""  # fediverse: the delivery id (worker/store/fediverse.py)


def parse(name: str, failed_at: float = 0.0, replayed_at: float | None = None) -> Letter:
    kind, _, rest = name.partition(":")
    if kind == "event":
        return Letter(name, kind, failed_at, event_id=rest, replayed_at=replayed_at)
    if kind == "render":
        return Letter(name, kind, failed_at, feed=rest, replayed_at=replayed_at)
    if kind == "hubdelivery":
        return Letter(name, kind, failed_at, subscription=rest, replayed_at=replayed_at)
    if kind == "indexnow":
        return Letter(name, kind, failed_at, batch=rest, replayed_at=replayed_at)
    if kind == "podping":
        return Letter(name, kind, failed_at, feed=rest, replayed_at=replayed_at)
    if kind == "fediverse":
        return Letter(name, kind, failed_at, delivery=rest, replayed_at=replayed_at)
    if kind == "ping":  # feed keys hold no ":"; hub URLs do
        feed, _, hub = rest.partition(":")
        return Letter(name, kind, failed_at, feed=feed, hub=hub, replayed_at=replayed_at)
    article_id, _, network = rest.rpartition(":")
    return Letter(
        name, "delivery", failed_at, article_id=article_id, network=network, replayed_at=replayed_at
    )


class DeadLetters:
    def __init__(self, client: Client) -> None:
        self._r = client

    def add(self, name: str) -> None:
        pipe = self._r.pipeline()
        add_in(pipe, name)
        pipe.execute()

    def newest(self, limit: int = 100) -> list[Letter]:
        rows = self._r.zrevrange(DEAD, 0, limit - 1, withscores=True)
        names = [m.decode() for m, _ in rows]
        replayed = self._r.hmget(REPLAYED, names) if names else []
        return [
            parse(name, score, float(at) if at else None)
            for name, (_, score), at in zip(names, rows, replayed)
        ]

    def count(self) -> int:
        return int(self._r.zcard(DEAD))

    def contains(self, name: str) -> bool:
        return self._r.zscore(DEAD, name) is not None

    def mark_replayed(self, name: str) -> None:
        self._r.hset(REPLAYED, name, f"{time.time():.3f}")


def add_in(pipe: redis.client.Pipeline, name: str) -> None:
    """Record a letter inside another domain's transaction: failed (again) now; a replay's mark
    goes, so a replayed unit that fails again is not shown as "retry under way" for ever."""
    pipe.zadd(DEAD, {name: time.time()})
    pipe.hdel(REPLAYED, name)


def remove_in(pipe: redis.client.Pipeline, name: str) -> None:
    """Take a letter off the list inside another domain's transaction (its work succeeded)."""
    pipe.zrem(DEAD, name)
    pipe.hdel(REPLAYED, name)
