"""What the operator commands and the status page do, as functions of a Runtime.

`syndicate backfill|rebuild|replay|status|check` (syndicate/cli.py) and the page at `/`
(api/page.py) are thin shells around these, so the terminal and the browser tell the same story.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import redis
import requests

from feeds.article import ArticleEvent
from feeds.validation import validate_event
from syndicate.config import NETWORKS, Settings, public_hub_url
from worker import enqueue, keys
from worker.runtime import Runtime

log = logging.getLogger("syndicate.ops")


# Backfill -------------------------------------------------------------------------------------
BACKFILL_PLAN = {network: ("skipped", "backfilled: archives are never shared")
                 for network in NETWORKS}


@dataclass
class BackfillReport:
    lines: int = 0
    applied: int = 0
    unchanged: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    feeds: set[str] = field(default_factory=set)


def backfill_line(rt: Runtime, number: int, line: str, report: BackfillReport) -> None:
    """Apply one archived event without sharing it and without queueing renders."""
    report.lines += 1
    if not line.strip():
        return
    try:
        payload = json.loads(line)
    except ValueError as exc:
        report.rejected.append((number, f"not JSON: {exc}"))
        return
    errors = validate_event(payload)
    if errors:
        report.rejected.append((number, "; ".join(f"{e.field}: {e.message}" for e in errors[:3])))
        return
    event_id = payload.get("id") or f"backfill-{number}"
    event = ArticleEvent.from_payload(event_id, payload)
    applied = rt.store.apply_event(event, BACKFILL_PLAN, defer_render=True)
    if applied.outcome == "applied":
        report.applied += 1
        report.feeds.update(applied.touched_feeds)
    else:
        report.unchanged += 1


# Replay ---------------------------------------------------------------------------------------
# Dead letters are named "event:<id>", "delivery:<article>:<network>", "render:<feed>" and
# "ping:<feed>:<hub>". One leaves the list only when its retry succeeds (the store removes it
# then) or is recorded again with its new failure: replaying never loses one.
def dead_letters(rt: Runtime, limit: int = 100) -> list[dict[str, Any]]:
    """Units of work that ran out of retries, newest first, with their last error."""
    rows = [(m.decode(), score) for m, score in
            rt.redis.zrevrange(keys.DEAD_LETTERS, 0, limit - 1, withscores=True)]
    events = rt.store.event_summaries([n.partition(":")[2] for n, _ in rows
                                       if n.startswith("event:")])
    out = []
    for name, score in rows:
        kind, _, rest = name.partition(":")
        item: dict[str, Any] = {"name": name, "kind": kind, "failed_at": score, "article_id": ""}
        if kind == "event":
            record = events.get(rest, {})
            item.update(event_id=rest, article_id=record.get("article_id", ""),
                        error=record.get("error", ""))
        elif kind == "render":
            item.update(feed=rest, error=rt.store.render_error(rest))
        elif kind == "ping":
            feed, _, hub = rest.partition(":")
            item.update(feed=feed, hub=hub, error="the hub kept refusing or was unreachable")
        else:
            article_id, _, network = rest.rpartition(":")
            entry = rt.store.outbox_entry(article_id, network)
            item.update(article_id=article_id, network=network,
                        error=entry.get("last_error") or entry.get("reason", ""))
        out.append(item)
    return out


def replay(rt: Runtime, only: str | None = None) -> list[dict[str, Any]]:
    """Give every dead letter (or the one named `only`) a fresh set of retries. The letter
    stays listed (marked as replayed) until the retry succeeds or fails again."""
    replayed = []
    for item in dead_letters(rt, limit=10_000):
        if only is not None and item["name"] != only:
            continue
        kind = item["kind"]
        if kind == "event":
            if rt.store.requeue_event(item["event_id"]):
                enqueue.process_event(item["event_id"])
                item["replayed"] = True
        elif kind == "render":
            rt.store.retry_render(item["feed"])
            item["replayed"] = True
        elif kind == "ping":
            hubs = [h for h in rt.settings.websub_hubs if public_hub_url(h) == item["hub"]]
            for hub in hubs:
                enqueue.ping(item["feed"], hub)
            item["replayed"] = bool(hubs)
        else:
            action = rt.store.reopen_delivery(item["article_id"], item["network"])
            if action:
                enqueue.deliver(item["article_id"], item["network"], action)
                item["replayed"] = True
        if item.get("replayed"):
            rt.store.mark_replayed(item["name"])
            replayed.append(item)
    return replayed


# Status ---------------------------------------------------------------------------------------
def queue_depths(rt: Runtime) -> dict[str, int | None]:
    """Messages waiting per queue, asked of the broker itself (Redis or AMQP alike)."""
    from worker.celery_app import QUEUES, app

    depths: dict[str, int | None] = {}
    try:
        with app.connection_for_read() as conn:
            channel = conn.default_channel
            for queue in QUEUES:
                try:
                    depths[queue] = channel.queue_declare(queue=queue, passive=True).message_count
                except Exception:  # an undeclared queue has nothing waiting
                    depths[queue] = 0
    except Exception:
        depths = {q: None for q in QUEUES}
    return depths


def recent_events(rt: Runtime, limit: int = 20) -> list[dict[str, Any]]:
    ids = [e.decode() for e in rt.redis.zrevrange(keys.EVENTS_RECENT, 0, limit - 1)]
    out = []
    for event_id, record in rt.store.event_summaries(ids).items():
        result = json.loads(record["result"]) if record["result"] else {}
        out.append({"event_id": event_id, "type": record["type"],
                    "article_id": record["article_id"], "status": record["status"],
                    "received_at": float(record["received_at"] or 0),
                    "outcome": result.get("outcome", ""), "error": record["error"]})
    return out


def channel_health(rt: Runtime, dead: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per network: on or off, deliveries by state, entries still open, the latest failure
    (from `dead`, the dead letters the caller has read)."""
    counters = {k.decode(): float(v) for k, v in rt.redis.hgetall(keys.COUNTERS).items()}
    open_entries = [m.decode().rpartition("\t")[2] for m in rt.redis.zrange(keys.OUTBOX_OPEN, 0, -1)]
    out = []
    for network in NETWORKS:
        states = {name.split(":", 2)[2]: int(v) for name, v in counters.items()
                  if name.startswith(f"delivery:{network}:")}
        failure = next((d for d in dead if d.get("network") == network), None)
        out.append({"network": network, "enabled": network in rt.settings.enabled_networks,
                    "deliveries": states, "open": open_entries.count(network),
                    "retries": int(counters.get(f"retries:{network}", 0)),
                    "last_failure": failure})
    return out


def overview(rt: Runtime) -> dict[str, Any]:
    """Everything `syndicate status` prints and the status page shows."""
    dead = dead_letters(rt)
    return {
        "queues": queue_depths(rt),
        "workers": rt.store.live_workers(),
        "events": recent_events(rt),
        "channels": channel_health(rt, dead),
        "dead_letters": dead,
        "feeds": rt.redis.scard(keys.FEEDS),
        "feeds_to_render": rt.redis.scard(keys.FEEDS_DIRTY),
        "articles": rt.redis.zcard(keys.ARTICLES),
        "hubs": list(rt.site.hubs),
    }


# Check ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Check:
    name: str
    ok: bool | None  # None: off, nothing to check
    detail: str


def check(settings: Settings, probe: Callable[[str], str] | None = None) -> list[Check]:
    """Reach Redis, the broker and each configured remote; say what is on and what is off."""
    probe = probe or _probe_http
    from worker.runtime import configure

    out: list[Check] = []
    if settings.redis_url is None:
        out.append(Check("redis", None, "SYNDICATE_REDIS_URL not set: `syndicate run` embeds one"))
    else:
        out += _check_redis_and_broker(configure(settings))
    out.append(Check("webhook secret", True, "set") if settings.webhook_secret else Check(
        "webhook secret", None, "not set: `syndicate run` creates one, `syndicate api` refuses"))
    remotes = {"twitter": settings.twitter_api_url, "facebook": settings.facebook_graph_url,
               "googleplus": settings.googleplus_api_url}
    for network in NETWORKS:
        if network not in settings.enabled_networks:
            out.append(Check(network, None, "off (no credentials)"))
        else:
            out.append(_reach(network, remotes[network], probe))
    if not settings.websub_hubs:
        out.append(Check("websub", None, "off (SYNDICATE_WEBSUB_HUBS not set)"))
    for hub in settings.websub_hubs:
        out.append(_reach(f"hub {public_hub_url(hub)}", hub, probe))
    return out


def _check_redis_and_broker(rt: Runtime) -> list[Check]:
    from worker.celery_app import app

    out = []
    try:
        rt.redis.ping()
        persistence = rt.redis.config_get("appendonly").get("appendonly", "?")
        out.append(Check("redis", True, f"reachable, appendonly={persistence}"))
    except redis.RedisError as exc:
        out.append(Check("redis", False, f"unreachable: {type(exc).__name__}"))
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=3)
        out.append(Check("broker", True, f"reachable ({app.conf.broker_url.split(':', 1)[0]})"))
    except Exception as exc:
        out.append(Check("broker", False, f"unreachable: {type(exc).__name__}"))
    return out


def _reach(name: str, url: str, probe: Callable[[str], str]) -> Check:
    try:
        return Check(name, True, f"{public_hub_url(url)} answers ({probe(url)})")
    except requests.RequestException as exc:
        return Check(name, False, f"{public_hub_url(url)} unreachable: {type(exc).__name__}")


def _probe_http(url: str) -> str:
    """Any HTTP answer proves the remote is reachable; credentials are checked on first use."""
    r = requests.head(url, timeout=5, allow_redirects=False)
    return f"HTTP {r.status_code}"
