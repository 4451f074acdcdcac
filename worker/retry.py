"""Retry policies: one value per kind of work (after urllib3's and rq's `Retry`).

Every unit of work that can fail (an event, a feed render, a delivery and its lookups, a
Facebook refresh, a hub ping) is retried with growing backoff through the Redis schedule (never
a Celery countdown, see worker.celery_app) and, after `max_attempts`, dead-lettered with its
reason. The delays scale with `SYNDICATE_RETRY_BASE_MS`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Retry:
    max_attempts: int
    cap_s: float  # no single wait is longer
    factor: float = 1.0  # multiplies the configured base delay

    def gives_up(self, attempts: int) -> bool:
        """True once `attempts` attempts were made and none may follow."""
        return attempts >= self.max_attempts

    def backoff_s(self, attempt: int, base_s: float) -> float:
        """Exponential backoff with equal jitter: in [d/2, d], d = base * 2**(attempt-1), capped."""
        delay = min(self.cap_s, base_s * self.factor * (2 ** max(attempt - 1, 0)))
        return random.uniform(delay / 2, delay)


EVENT = Retry(max_attempts=8, cap_s=60.0)
RENDER = Retry(max_attempts=6, cap_s=300.0)
DELIVERY = Retry(max_attempts=10, cap_s=900.0)  # posts, and the lookups before them
DELETE = Retry(max_attempts=10, cap_s=900.0)
REFRESH = Retry(max_attempts=5, cap_s=900.0)
PING = Retry(max_attempts=8, cap_s=600.0)
INDEXNOW = Retry(max_attempts=8, cap_s=900.0)  # a batch of URLs: 429 and 5xx, not refusals
PODPING = Retry(max_attempts=8, cap_s=600.0)  # one notification of the audio feed's change
HUB_DELIVERY = Retry(max_attempts=12, cap_s=3600.0)  # our hub's POST to a callback, per origin
HUB_VERIFY = Retry(max_attempts=3, cap_s=60.0)  # a verification GET that got no answer at all
FEDIVERSE = Retry(max_attempts=12, cap_s=3600.0)  # an activity POSTed to an inbox, per host
LONGEST_WAIT_S = 24 * 3600.0  # even a network's own "retry after" is capped
