"""The social outbox: one entry per (article, network), the state machine's memory
(worker/delivery.py runs it).

hash `syn:outbox:<article>:<network>`: state (pending|sent|deleted|failed|skipped), reason,
remote_id, attempts, in_flight (1 while an attempt may have reached the network),
delete_requested, delete_attempts, last_error, payload_hash, payload (networks whose every attempt
sends the same bytes), memo (what a network keeps between attempts, JSON: Threads' container),
remote_url, traceparent, event_id, created_at, updated_at,
sent_at, deleted_at, next_attempt_at, note. The open list holds the entries with work left (a
post not yet made, a delete requested): the sweeper's list.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from redis.exceptions import WatchError

from syndicate.logs import mask
from worker.store import activity, counters, dead
from worker.store._prefix import PREFIX, Client, part
from worker.store.counters import Counters

OPEN = f"{PREFIX}outbox:open"  # zset member(article, network) -> last touched (epoch s)
DONE_STATES = ("sent", "deleted", "skipped")  # a dead letter of the entry is no longer due
REMOTE_TEXT = ("last_error", "reason", "note")  # scrubbed before they are stored


def entry_key(article_id: str, network: str) -> str:
    return f"{PREFIX}outbox:{part(article_id)}:{network}"


def lock_key(article_id: str, network: str) -> str:
    return f"{PREFIX}outbox:{part(article_id)}:{network}:lock"


def member(article_id: str, network: str) -> str:
    return f"{article_id}\t{network}"


def parse_member(raw: bytes | str) -> tuple[str, str]:
    text = raw.decode() if isinstance(raw, bytes) else raw
    article_id, _, network = text.rpartition("\t")
    return article_id, network


def open_in(pipe: Any, article_id: str, network: str, now: float) -> None:
    pipe.zadd(OPEN, {member(article_id, network): now})


def intend_in(
    pipe: Any,
    article_id: str,
    network: str,
    state: str,
    reason: str,
    event_id: str,
    now: float,
    traceparent: str = "",
) -> None:
    """The intent to share, written in the same transaction as the first publish."""
    pipe.hset(
        entry_key(article_id, network),
        mapping={
            "state": state,
            "reason": reason,
            "attempts": 0,
            "created_at": f"{now:.3f}",
            "event_id": event_id,
            "traceparent": traceparent,
        },
    )
    if state == "pending":
        open_in(pipe, article_id, network, now)


def request_delete_in(pipe: Any, article_id: str, network: str, now: float) -> None:
    """An unpublish (or purge): the post, made or still to be made, must go."""
    pipe.hset(entry_key(article_id, network), "delete_requested", 1)
    open_in(pipe, article_id, network, now)


def scrub_in(pipe: Any, article_id: str, networks: tuple[str, ...]) -> None:
    """A takedown: the words kept for a network (the payload of the first attempt: title,
    summary, share text) leave the outbox; states and remote ids stay, for the deletes."""
    for network in networks:
        pipe.hdel(entry_key(article_id, network), "payload")


def states_in(pipe: Any, article_id: str, networks: tuple[str, ...]) -> dict[str, str]:
    """Each network's state, read inside the caller's WATCH (before its MULTI)."""
    out = {}
    for network in networks:
        state = pipe.hget(entry_key(article_id, network), "state")
        if state:
            out[network] = state.decode()
    return out


Listing = Literal["open", "close", "keep"]


WATCH_TRIES = 10  # an entry has one delivery at a time (its lock): contention is a takedown


class Outbox:
    def __init__(self, client: Client, networks: tuple[str, ...], totals: Counters) -> None:
        self._r = client
        self.networks = networks
        self._counters = totals

    def entry(self, article_id: str, network: str) -> dict[str, str]:
        raw = self._r.hgetall(entry_key(article_id, network))
        return {k.decode(): v.decode() for k, v in raw.items()}

    def entries(self, article_id: str) -> dict[str, dict[str, Any]]:
        """Per network with an entry: state, remote id, attempts (a number), last error, ..."""
        pipe = self._r.pipeline()
        for network in self.networks:
            pipe.hgetall(entry_key(article_id, network))
        out: dict[str, dict[str, Any]] = {}
        for network, raw in zip(self.networks, pipe.execute()):
            if raw:
                entry: dict[str, Any] = {k.decode(): v.decode() for k, v in raw.items()}
                entry["attempts"] = int(entry.get("attempts", 0))
                out[network] = entry
        return out

    def update(
        self,
        article_id: str,
        network: str,
        *,
        listing: Listing = "open",
        incr_attempts: bool = False,
        **fields: Any,
    ) -> bool:
        """Write delivery fields. `listing`: put the entry on the sweeper's open list (touched
        now), take it off (`close`), or leave the list alone (`keep`). Only an entry that still
        exists is written (the publish made it; a takedown that scrubbed it meanwhile wins):
        False, and nothing written, otherwise."""
        key = entry_key(article_id, network)
        now = time.time()
        fields["updated_at"] = f"{now:.3f}"
        for name in REMOTE_TEXT:  # remote text: never a secret in the store
            if name in fields:
                fields[name] = mask(str(fields[name]))[:500]
        with self._r.pipeline() as pipe:
            for _ in range(WATCH_TRIES):
                try:
                    pipe.watch(key)
                    if not pipe.exists(key):
                        return False
                    pipe.multi()
                    self._write_in(
                        pipe, article_id, network, key, now, listing, incr_attempts, fields
                    )
                    pipe.execute()
                    return True
                except WatchError:
                    continue  # the entry changed under us: look again
        raise WatchError(f"outbox entry {article_id}/{network} kept changing")  # the task retries

    @staticmethod
    def _write_in(
        pipe: Any,
        article_id: str,
        network: str,
        key: str,
        now: float,
        listing: Listing,
        incr_attempts: bool,
        fields: dict[str, Any],
    ) -> None:
        pipe.hset(key, mapping={k: str(v) for k, v in fields.items()})
        if incr_attempts:
            pipe.hincrby(key, "attempts", 1)
        if listing == "close":
            pipe.zrem(OPEN, member(article_id, network))
        elif listing == "open":
            open_in(pipe, article_id, network, now)
        if "state" in fields:
            counters.add_in(pipe, counters.delivery(network, fields["state"]))
            if fields["state"] == "sent":  # the hour's posts (the status page's chart)
                activity.add_in(pipe, activity.POSTS, now)
            if fields["state"] in DONE_STATES:
                dead.remove_in(pipe, dead.delivery_letter(article_id, network))

    def count_retry(self, network: str) -> None:
        self._counters.add({counters.retries(network): 1})

    def lock(self, article_id: str, network: str, ttl_s: int) -> bool:
        return bool(self._r.set(lock_key(article_id, network), 1, nx=True, ex=ttl_s))

    def unlock(self, article_id: str, network: str) -> None:
        self._r.delete(lock_key(article_id, network))

    def stale_open(self, older_than: float) -> list[tuple[str, str]]:
        """Open entries nobody touched for a while (their task was lost); touched again now."""
        members = self._r.zrangebyscore(OPEN, "-inf", time.time() - older_than, start=0, num=100)
        out = []
        for m in members:
            self._r.zadd(OPEN, {m: time.time()}, xx=True)
            out.append(parse_member(m))
        return out

    def open_per_network(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for m in self._r.zrange(OPEN, 0, -1):
            network = parse_member(m)[1]
            out[network] = out.get(network, 0) + 1
        return out

    def reopen(self, article_id: str, network: str) -> str | None:
        """A failed post back to pending, or a failed delete requested again, each with fresh
        attempts (for `replay`); the action to queue, or None if there is nothing to retry.

        `in_flight` is kept: if the last attempt may have reached the network, the next one
        still checks for that post first, so a replay cannot make a second post.
        """
        entry = self.entry(article_id, network)
        now = time.time()
        if entry.get("state") == "failed":
            fields: dict[str, Any] = {
                "state": "pending",
                "attempts": 0,
                "note": "replayed",
                "replayed_at": f"{now:.3f}",
            }
            action = "post"
        elif entry.get("state") == "sent" and entry.get("last_error", "").startswith("delete"):
            fields = {
                "delete_requested": 1,
                "delete_attempts": 0,
                "note": "delete replayed",
                "replayed_at": f"{now:.3f}",
            }
            action = "delete"
        else:
            return None
        pipe = self._r.pipeline()
        pipe.hset(entry_key(article_id, network), mapping=fields)
        open_in(pipe, article_id, network, now)
        pipe.execute()
        return action
