"""Dead letters: units of work that ran out of retries, by name, with when they failed and why.

Names: `<prefix>:<key>`, the prefix naming the kind of work (worker/work.py): `event:<id>`,
`delivery:<article>:<network>`, `render:<feed>`, `ping:<feed>:<hub>`, `hubdelivery:<subscription
id>` (our own hub's deliveries to a callback), `indexnow:<batch id>`, `podping:<feed>`,
`fediverse:<delivery id>` (an activity to a fediverse inbox). A letter leaves the list when its
unit of work next succeeds (each domain removes its own), or is recorded again with a new time
and reason when it fails again; a replay only marks it.

Why it failed is a `Reason`, a short code from a closed set, written with the letter: the
operator's hint is a lookup on it (worker/hints.py), and no remote text or secret ever gets into
it (the masked message stays where each domain keeps it). Letters written before reasons were
kept have none.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from enum import StrEnum

import redis

from worker.store._prefix import PREFIX, Client

DEAD = f"{PREFIX}dead"  # zset name -> failed at (epoch s)
REPLAYED = f"{PREFIX}dead:replayed"  # hash name -> replayed at (epoch s)
# hash name -> Reason. A render's letter is removed by the render's own script
# (worker/store/rendered.py), which leaves its reason: at most one per feed, replaced when the
# feed fails again, and never read without its letter.
REASONS = f"{PREFIX}dead:reasons"


class Reason(StrEnum):
    """Why a unit of work ran out of retries (or was refused for good)."""

    TIMEOUT = "timeout"  # the remote did not answer in time
    UNREACHABLE = "unreachable"  # no connection (or an address the outbound guard refuses)
    RATE_LIMITED = "rate_limited"  # HTTP 429 or throttled, until the retries ran out
    REMOTE_5XX = "remote_5xx"  # the remote kept failing
    REMOTE_4XX = "remote_4xx"  # the remote refused it (permission, content, not found)
    AUTH = "auth"  # the credentials were refused (401, an expired or revoked token)
    INVALID = "invalid"  # what was sent was refused as malformed (400, 422)
    DUPLICATE = "duplicate"  # refused as a duplicate of an earlier post
    MAYBE_POSTED = "maybe_posted"  # an attempt that may have posted, and no way to know
    INTERNAL = "internal"  # our own side failed: a bug, the disk, a time limit
    OTHER = "other"  # none of these


def for_status(status: int) -> Reason:
    """The reason of an HTTP answer that was not a success (0: nothing answered)."""
    if status == 0:
        return Reason.UNREACHABLE
    if status in (401, 407):
        return Reason.AUTH
    if status == 408:
        return Reason.TIMEOUT
    if status == 429:
        return Reason.RATE_LIMITED
    if status in (400, 413, 414, 415, 422):
        return Reason.INVALID
    if 400 <= status < 500:
        return Reason.REMOTE_4XX
    if status >= 500:
        return Reason.REMOTE_5XX
    return Reason.OTHER


# The Graph API (Facebook, Threads) says why in its error code, whatever the HTTP status.
_GRAPH: dict[int, Reason] = {
    **{code: Reason.REMOTE_4XX for code in range(200, 300)},  # permissions
    1: Reason.REMOTE_5XX,
    2: Reason.REMOTE_5XX,
    4: Reason.RATE_LIMITED,
    10: Reason.REMOTE_4XX,
    17: Reason.RATE_LIMITED,
    32: Reason.RATE_LIMITED,
    100: Reason.INVALID,
    102: Reason.AUTH,
    190: Reason.AUTH,
    506: Reason.DUPLICATE,
    613: Reason.RATE_LIMITED,
}
_GRAPH_CODE = re.compile(r"(?:^|: )code (\d+):|\bHTTP \d{3}: \((\d+)/")
_STATUS = re.compile(r"\bHTTP (\d{3})\b")
_TIMEOUT = re.compile(r"\b\w*Timeout\b|\bTooSlow\b")
_UNREACHABLE = re.compile(
    r"\b\w*(?:ConnectionError|SSLError|ProxyError)\b|^refused: |no answer|unreachable"
)


def reason_of(text: str, default: Reason = Reason.OTHER) -> Reason:
    """The reason of a failure from the text our own code wrote for it, for a writer that holds
    only that text: a Graph API `code N`, then the first `HTTP nnn` that is not a success,
    then a transport exception's name (`ReadTimeout`, `ConnectionError`, `no answer`)."""
    graph = _GRAPH_CODE.search(text)
    if graph and int(graph.group(1) or graph.group(2)) in _GRAPH:
        return _GRAPH[int(graph.group(1) or graph.group(2))]
    failed = [int(s) for s in _STATUS.findall(text) if not 200 <= int(s) < 300]
    if failed:
        return for_status(failed[0])
    if _TIMEOUT.search(text):
        return Reason.TIMEOUT
    if _UNREACHABLE.search(text):
        return Reason.UNREACHABLE
    return default


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
    kind: str  # the prefix: the kind of work's `letters.prefix` in worker/work.py
    key: str  # the rest of the name, which that kind reads (worker/deadletter_kinds.py)
    failed_at: float
    replayed_at: float | None = None
    reason: str = ""  # a Reason; "" for a letter written before reasons were kept


def parse(
    name: str, failed_at: float = 0.0, replayed_at: float | None = None, reason: str = ""
) -> Letter:
    kind, _, key = name.partition(":")
    return Letter(name, kind, key, failed_at, replayed_at, reason)


class DeadLetters:
    def __init__(self, client: Client) -> None:
        self._r = client

    def add(self, name: str, reason: Reason) -> None:
        pipe = self._r.pipeline()
        add_in(pipe, name, reason)
        pipe.execute()

    def newest(self, limit: int = 100) -> list[Letter]:
        rows = self._r.zrevrange(DEAD, 0, limit - 1, withscores=True)
        return self._letters([(m.decode(), score) for m, score in rows])

    def get(self, name: str) -> Letter | None:
        """The letter named so, if it is listed."""
        score = self._r.zscore(DEAD, name)
        return None if score is None else self._letters([(name, score)])[0]

    def _letters(self, rows: list[tuple[str, float]]) -> list[Letter]:
        names = [name for name, _ in rows]
        pipe = self._r.pipeline()
        pipe.hmget(REPLAYED, names)
        pipe.hmget(REASONS, names)
        replayed, reasons = pipe.execute() if names else ([], [])
        return [
            parse(name, score, float(at) if at else None, why.decode() if why else "")
            for (name, score), at, why in zip(rows, replayed, reasons)
        ]

    def count(self) -> int:
        return int(self._r.zcard(DEAD))

    def contains(self, name: str) -> bool:
        return self._r.zscore(DEAD, name) is not None

    def mark_replayed(self, name: str) -> None:
        self._r.hset(REPLAYED, name, f"{time.time():.3f}")


def add_in(pipe: redis.client.Pipeline, name: str, reason: Reason) -> None:
    """Record a letter inside another domain's transaction: failed (again) now, for `reason`; a
    replay's mark goes, so a replayed unit that fails again is not shown as "retry under way"
    for ever."""
    pipe.zadd(DEAD, {name: time.time()})
    pipe.hdel(REPLAYED, name)
    pipe.hset(REASONS, name, Reason(reason).value)


def remove_in(pipe: redis.client.Pipeline, name: str) -> None:
    """Take a letter off the list inside another domain's transaction (its work succeeded)."""
    pipe.zrem(DEAD, name)
    pipe.hdel(REPLAYED, name)
    pipe.hdel(REASONS, name)
