"""What the operator commands and the status page do, as functions of a Runtime.

`syndicate backfill|rebuild|replay|status|check` (syndicate/cli.py) and the page at `/`
(api/page.py) are thin shells around these, so the terminal and the browser tell the same story.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import redis
import requests

from feeds.article import ArticleEvent
from feeds.validation import validate_event
from syndicate.config import public_hub_url
from worker import enqueue
from worker.celery_app import QUEUES, app
from worker.http import RemoteSession
from worker.runtime import Runtime
from worker.social import NETWORKS, REGISTRY
from worker.social.errors import DeliveryError

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
    applied = rt.store.articles.apply(event, BACKFILL_PLAN, defer_render=True)
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
    letters = rt.store.dead.newest(limit)
    events = rt.store.events.summaries([d.event_id for d in letters if d.kind == "event"])
    out = []
    for letter in letters:
        item: dict[str, Any] = {"name": letter.name, "kind": letter.kind,
                                "failed_at": letter.failed_at, "replayed_at": letter.replayed_at,
                                "article_id": letter.article_id}
        if letter.kind == "event":
            record = events.get(letter.event_id, {})
            item.update(event_id=letter.event_id, article_id=record.get("article_id", ""),
                        error=record.get("error", ""))
        elif letter.kind == "render":
            item.update(feed=letter.feed, error=rt.store.feeds.render_error(letter.feed))
        elif letter.kind == "ping":
            item.update(feed=letter.feed, hub=letter.hub,
                        error="the hub kept refusing or was unreachable")
        else:
            entry = rt.store.outbox.entry(letter.article_id, letter.network)
            item.update(network=letter.network,
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
            if rt.store.events.requeue(item["event_id"]):
                enqueue.process_event(item["event_id"])
                item["replayed"] = True
        elif kind == "render":
            rt.store.feeds.retry(item["feed"])
            item["replayed"] = True
        elif kind == "ping":
            hubs = [h for h in rt.settings.websub_hubs if public_hub_url(h) == item["hub"]]
            for hub in hubs:
                enqueue.ping(item["feed"], hub)
            item["replayed"] = bool(hubs)
        else:
            action = rt.store.outbox.reopen(item["article_id"], item["network"])
            if action:
                enqueue.deliver(item["article_id"], item["network"], action)
                item["replayed"] = True
        if item.get("replayed"):
            rt.store.dead.mark_replayed(item["name"])
            replayed.append(item)
    return replayed


# Status ---------------------------------------------------------------------------------------
def queue_depths(rt: Runtime) -> dict[str, int | None]:
    """Messages waiting per queue, asked of the broker itself (Redis or AMQP alike)."""
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
    out = []
    for event_id, record in rt.store.events.summaries(rt.store.events.recent_ids(limit)).items():
        result = json.loads(record["result"]) if record["result"] else {}
        out.append({"event_id": event_id, "type": record["type"],
                    "article_id": record["article_id"], "status": record["status"],
                    "received_at": float(record["received_at"] or 0),
                    "outcome": result.get("outcome", ""), "error": record["error"]})
    return out


def channel_health(rt: Runtime, dead: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per network: on or off, deliveries by state, entries still open, the latest failure
    (from `dead`, the dead letters the caller has read)."""
    totals = rt.store.counters.totals()
    open_entries = rt.store.outbox.open_per_network()
    out = []
    for network in NETWORKS:
        failure = next((d for d in dead if d.get("network") == network), None)
        out.append({"network": network, "enabled": network in rt.channels,
                    "deliveries": dict(totals.deliveries.get(network, {})),
                    "open": open_entries.get(network, 0),
                    "retries": totals.retries.get(network, 0), "last_failure": failure})
    return out


def overview(rt: Runtime) -> dict[str, Any]:
    """Everything `syndicate status` prints and the status page shows."""
    dead = dead_letters(rt)
    return {
        "queues": queue_depths(rt),
        "workers": rt.store.workers.live(),
        "events": recent_events(rt),
        "channels": channel_health(rt, dead),
        "dead_letters": dead,
        "feeds": rt.store.articles.feed_count(),
        "feeds_to_render": rt.store.feeds.dirty_count(),
        "articles": rt.store.articles.count(),
        "hubs": list(rt.site.hubs),
    }


# Check ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Check:
    name: str
    ok: bool | None  # None: off, nothing to check
    detail: str
    warning: bool = False  # a failure that does not fail `check`


def check(rt: Runtime) -> list[Check]:
    """Prove each configured piece works: Redis, the broker, each network with a cheap
    authenticated call, each hub; say what is off."""
    settings = rt.settings
    out: list[Check] = []
    if settings.redis_url is None:
        out.append(Check("redis", None, "SYNDICATE_REDIS_URL not set: `syndicate run` embeds one"))
    else:
        out += _check_redis_and_broker(rt)
    out.append(Check("podcast owner", True, f"{settings.podcast_owner_email}")
               if settings.podcast_owner_email else Check(
                   "podcast owner", False, "SYNDICATE_PODCAST_OWNER_EMAIL not set: the audio feed "
                   "lacks itunes:owner (podcast directories want it)", warning=True))
    out.append(Check("webhook secret", True, "set") if settings.webhook_secret else Check(
        "webhook secret", None, "not set: `syndicate run` creates one, `syndicate api` refuses"))
    for network in NETWORKS:
        channel = rt.channels.get(network)
        if channel is None:
            out.append(Check(network, None, "off (no credentials)"))
            continue
        try:
            out.append(Check(network, True, channel.health_check()))
        except DeliveryError as exc:
            out.append(Check(network, False, f"{REGISTRY[network].__name__}: {exc.reason}"))
    if not settings.websub_hubs:
        out.append(Check("websub", None, "off (SYNDICATE_WEBSUB_HUBS not set)"))
    for hub in settings.websub_hubs:
        out.append(_check_hub(rt, hub))
    return out


def _check_redis_and_broker(rt: Runtime) -> list[Check]:
    out = []
    try:
        rt.store.ping()
        out.append(Check("redis", True, f"reachable, appendonly={rt.store.persistence()}"))
    except redis.RedisError as exc:
        out.append(Check("redis", False, f"unreachable: {type(exc).__name__}"))
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=3)
        out.append(Check("broker", True, f"reachable ({app.conf.broker_url.split(':', 1)[0]})"))
    except Exception as exc:  # any transport error means unreachable
        out.append(Check("broker", False, f"unreachable: {type(exc).__name__}"))
    return out


def _check_hub(rt: Runtime, hub: str) -> Check:
    """A hub must answer HTTP below 500 (a publish ping with no topic is refused as a bad
    request by a working hub; a 5xx or no answer is a hub that will not take pings)."""
    name = f"hub {public_hub_url(hub)}"
    try:
        r = RemoteSession(rt.settings.http_timeout).post(hub, data={"hub.mode": "publish"})
    except requests.RequestException as exc:
        return Check(name, False, f"unreachable: {type(exc).__name__}")
    if r.status_code >= 500:
        return Check(name, False, f"answers HTTP {r.status_code}: it will not take pings")
    return Check(name, True, f"answers (HTTP {r.status_code})")
