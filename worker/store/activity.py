"""What the service did hour by hour (the status page's 24-hour chart) and when the CMS's
events arrived (how long it has been quiet, against its usual gaps).

hash `syn:activity:<hour>` (hour = epoch // 3600): events (accepted from the CMS), posts (sent
to a network); each expires two days after its hour began.
zset `syn:activity:arrivals`: one member per accepted event (its time and a random tag, no id:
a takedown leaves nothing here to remove) scored by its time; the last 24 h, at most
ARRIVALS_KEPT.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from worker.store._prefix import PREFIX, Client

ARRIVALS = f"{PREFIX}activity:arrivals"
ARRIVALS_KEPT = 1_000
HOUR_S = 3600
DAY_S = 86_400
KEPT_S = 2 * DAY_S  # each hour's hash outlives the chart's window
EVENTS, POSTS = "events", "posts"


def hour_key(hour: int) -> str:
    return f"{PREFIX}activity:{hour}"


def add_in(pipe: Any, name: str, now: float | None = None) -> None:
    """Count one `events` or `posts` in the current hour, inside the caller's pipeline."""
    key = hour_key(int((time.time() if now is None else now) // HOUR_S))
    pipe.hincrby(key, name, 1)
    pipe.expire(key, KEPT_S)


class Activity:
    def __init__(self, client: Client) -> None:
        self._r = client

    def event_accepted(self, now: float | None = None) -> None:
        """One event from the CMS: its hour's count and its arrival, in one round trip."""
        self.events_accepted([time.time() if now is None else now])

    def events_accepted(self, times: list[float]) -> None:
        """Events from the CMS, by when each was accepted (an applier counts the batch it took):
        their hours' counts and their arrivals, in one round trip."""
        if not times:
            return
        pipe = self._r.pipeline(transaction=False)
        for at in times:
            add_in(pipe, EVENTS, at)
        pipe.zadd(ARRIVALS, {f"{at:.6f}:{secrets.token_hex(4)}": at for at in times})
        pipe.zremrangebyscore(ARRIVALS, "-inf", time.time() - DAY_S)
        pipe.zremrangebyrank(ARRIVALS, 0, -ARRIVALS_KEPT - 1)
        pipe.expire(ARRIVALS, DAY_S)
        pipe.execute()

    def hours(self, count: int = 24, now: float | None = None) -> list[tuple[int, int, int]]:
        """(hour start, events, posts) for the last `count` hours, the current one last."""
        count = max(1, min(count, KEPT_S // HOUR_S))
        current = int((time.time() if now is None else now) // HOUR_S)
        hours = list(range(current - count + 1, current + 1))
        pipe = self._r.pipeline(transaction=False)
        for hour in hours:
            pipe.hmget(hour_key(hour), EVENTS, POSTS)
        return [
            (hour * HOUR_S, int(events or 0), int(posts or 0))
            for hour, (events, posts) in zip(hours, pipe.execute())
        ]

    def arrivals(self, now: float | None = None) -> list[float]:
        """When the events of the last 24 h arrived, oldest first."""
        now = time.time() if now is None else now
        return [
            float(score)
            for _, score in self._r.zrangebyscore(ARRIVALS, now - DAY_S, "+inf", withscores=True)
        ]
