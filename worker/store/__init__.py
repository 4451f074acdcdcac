"""The Redis store, cut by domain: one small repository per piece of state, each owning its
keys, the encodings of the members and fields under them, and its counters. Nothing outside
this package talks to Redis.

| module | state |
|---|---|
| events.py | accepted events: status, body (until the retention ends), the sweeper's list |
| articles.py | articles, feed membership, retractions |
| purges.py | takedowns in the store (purge, unpurge) and their audit record |
| feeds.py | rendered feeds: bytes, ETags, versions, failures; claims and releases of renders |
| render_queue.py | the render queue: the dirty set, the due-time queues by priority, render locks (keys and scripts) |
| exports.py | the static export per feed: the ETags on disk, its failures |
| outbox.py | the social outbox: one entry per article and network, locks, the open list |
| schedule.py | delayed work (retries, rate-limit waits), drained by the scheduler loop |
| dead.py | dead letters: units of work out of retries |
| workers.py | worker heartbeats |
| counters.py | counters for metrics and the status page |
| channels.py | each network's own state (sessions, account ids), shared by the workers |
| sessions.py | operator sessions and sign-in failure counters |
| takedowns.py | takedowns under way and done (what `syndicate purge` waits on) |
| subscriptions.py | our own WebSub hub: requests to verify, subscriptions and leases, delivery backoff |
| fediverse.py | ActivityPub: actor keys, followers, deliveries, remote keys, per-host counters |
| activity.py | events and posts per hour, arrival times of events (the status page's chart) |
| actions.py | what operators did: backfill, rebuild, replay, purge, unpurge (who, when) |

Every state change that must be all-or-nothing is one MULTI/EXEC (with WATCH where it reads
first) or one Lua script, so a crash between two writes never leaves half a change.
Inspect any key with `redis-cli`: hashes with HGETALL, sorted sets with ZRANGE ... WITHSCORES.
"""

from __future__ import annotations

import redis

from worker.store.actions import Actions
from worker.store.activity import Activity
from worker.store.articles import Applied, Articles
from worker.store.channels import ChannelState
from worker.store.counters import Counters
from worker.store.dead import DeadLetters
from worker.store.events import Events
from worker.store.exports import Exports
from worker.store.fediverse import Fediverse
from worker.store.outbox import Outbox
from worker.store.purges import Purges
from worker.store.rendered import Feeds
from worker.store.schedule import Schedule
from worker.store.subscriptions import Subscriptions
from worker.store.takedowns import Takedowns
from worker.store.workers import Workers

__all__ = ["Applied", "Store"]


class Store:
    def __init__(
        self,
        client: redis.Redis,
        networks: tuple[str, ...],
        feed_size: int = 50,
        event_retention_days: int = 30,
    ) -> None:
        self._r = client
        self.counters = Counters(client)
        self.dead = DeadLetters(client)
        self.schedule = Schedule(client)
        self.workers = Workers(client)
        self.events = Events(client, event_retention_days * 86400)
        self.outbox = Outbox(client, networks, self.counters)
        self.feeds = Feeds(client)
        self.articles = Articles(client, networks, feed_size, self.feeds)
        self.takedowns = Takedowns(client)
        self.purges = Purges(client, networks)
        self.exports = Exports(client)
        self.subscriptions = Subscriptions(client)
        self.fediverse = Fediverse(client)
        self.activity = Activity(client)  # the status page's chart and quiet warning
        self.actions = Actions(client)  # what operators did

    def channel_state(self, network: str) -> ChannelState:
        return ChannelState(self._r, network)

    def ping(self) -> bool:
        return bool(self._r.ping())

    def rewrite_log(self) -> str:
        """Rewrite Redis's append-only file (BGREWRITEAOF), so what a takedown removed is no
        longer in the log on disk: `started`, `busy` (a rewrite or save under way: ask again),
        or why it cannot be (an external Redis that does not allow it)."""
        try:
            self._r.bgrewriteaof()
            return "started"
        except redis.ResponseError as exc:
            text = str(exc)
            if "in progress" in text or "already" in text:
                return "busy"
            return f"not allowed: {text[:120]}"

    def log_rewrite_running(self) -> bool:
        info = self._r.info("persistence")
        return bool(info.get("aof_rewrite_in_progress") or info.get("aof_rewrite_scheduled"))

    def persistence(self) -> str:
        """Redis's `appendonly` setting (what `check` reports), from INFO: the embedded Redis
        has no CONFIG command, and an ACL user need not have it."""
        enabled = self._r.info("persistence").get("aof_enabled")
        return {0: "no", 1: "yes"}.get(int(enabled), "?") if enabled is not None else "?"
