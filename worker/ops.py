"""What the operator commands and the status page do, as functions of a Runtime: the overview
that `syndicate status` prints and the page at `/` (api/page.py) shows, the settings a service
publishes for them, and `syndicate backfill`'s applying of archived events.

The other commands' work has modules of its own: the dead letters and their replay in
worker/deadletters.py, `syndicate check` in worker/checks.py. cli/ and api/ are thin shells
around these, so the terminal and the browser tell the same story.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis

from feeds.article import ArticleEvent
from feeds.validation import validate_event
from syndicate import __version__
from syndicate.config import Settings, public_hub_url
from worker.celery_app import QUEUES, app
from worker.deadletters import dead_letters
from worker.deadletters import replay as replay  # the status page's Retry (api/page.py)
from worker.runtime import Runtime
from worker.social import NETWORKS, enabled_networks

log = logging.getLogger("syndicate.ops")


# Backfill -------------------------------------------------------------------------------------
BACKFILL_PLAN = {
    network: ("skipped", "backfilled: archives are never shared") for network in NETWORKS
}


@dataclass
class BackfillReport:
    lines: int = 0
    applied: int = 0
    unchanged: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    feeds: set[str] = field(default_factory=set)
    marked: set[str] = field(default_factory=set)  # of `feeds`, those queued for rendering


def mark_backfilled(rt: Runtime, report: BackfillReport) -> int:
    """Queue for the renderers the feeds that articles applied so far touched and that are not
    queued yet: a backfill stopped by anything leaves no stored article out of its feeds
    unannounced. How many were queued now."""
    new = sorted(report.feeds - report.marked)
    if new:
        rt.store.feeds.touch(new)
        report.marked.update(new)
    return len(new)


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


# Status ---------------------------------------------------------------------------------------
def queue_depths(rt: Runtime) -> dict[str, int | None]:
    """Work waiting per queue, asked of the broker itself (Redis or AMQP alike); `events` also
    counts the events queued in Redis for the appliers (worker/applier.py)."""
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
    try:
        depths["events"] = (depths.get("events") or 0) + rt.store.events.waiting()
    except redis.RedisError:
        pass
    return depths


def recent_events(rt: Runtime, limit: int = 20) -> list[dict[str, Any]]:
    out = []
    summaries = rt.store.events.summaries(rt.store.events.recent_ids(limit))
    titles = rt.store.articles.titles(list({r["article_id"] for r in summaries.values()}))
    for event_id, record in summaries.items():
        result = json.loads(record["result"]) if record["result"] else {}
        out.append(
            {
                "event_id": event_id,
                "type": record["type"],
                "article_id": record["article_id"],
                "title": titles.get(record["article_id"], ""),
                "status": record["status"],
                "received_at": float(record["received_at"] or 0),
                "outcome": result.get("outcome", ""),
                "error": record["error"],
            }
        )
    return out


def channel_health(rt: Runtime, dead: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per network: on or off, deliveries by state, entries still open, the latest failure
    (from `dead`, the dead letters the caller has read)."""
    totals = rt.store.counters.totals()
    service = rt.store.workers.config()  # the running service's channels, not this shell's
    enabled = set(service["networks"]) if service else set(rt.channels)
    open_entries = rt.store.outbox.open_per_network()
    out = []
    for network in NETWORKS:
        failure = next((d for d in dead if d.get("network") == network), None)
        out.append(
            {
                "network": network,
                "enabled": network in enabled,
                "deliveries": dict(totals.deliveries.get(network, {})),
                "open": open_entries.get(network, 0),
                "retries": totals.retries.get(network, 0),
                "last_failure": failure,
            }
        )
    return out


def effective_config(settings: Settings) -> dict[str, Any]:
    """The settings a service runs with, secrets reduced to set/unset: what it publishes at
    start for `status` and `check` to read (a shell's environment may differ)."""
    return {
        "version": __version__,
        "started_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "public_url": settings.public_url,
        "site": {
            "url": settings.site_url,
            "title": settings.site_title,
            "language": settings.site_language,
        },
        "feed_size": settings.feed_size,
        "hubs": [public_hub_url(h) for h in settings.websub_hubs],
        "websub_hub": "on" if settings.websub_hub else "off",
        "networks": list(enabled_networks(settings)),
        "webhook_secret": "set" if settings.webhook_secret else "unset",
        "admin_token": "set" if settings.admin_token else "unset",
        "broker": (settings.broker or "").split(":", 1)[0],
        "podcast_owner_email": "set" if settings.podcast_owner_email else "unset",
        "event_retention_days": settings.event_retention_days,
    }


def overview(rt: Runtime) -> dict[str, Any]:
    """Everything `syndicate status` prints and the status page shows."""
    dead = dead_letters(rt)
    return {
        "queues": queue_depths(rt),
        "workers": rt.store.workers.live(),
        "renderers": rt.store.workers.live_renderers(),
        "events": recent_events(rt),
        "channels": channel_health(rt, dead),
        "dead_letters": dead,
        "feeds": rt.store.articles.feed_count(),
        "feeds_to_render": rt.store.feeds.dirty_count(),
        "articles": rt.store.articles.count(),
        "hubs": list(rt.site.hubs),
        "hub": rt.store.subscriptions.listing(),
        "fediverse": rt.store.fediverse.listing(),
        "service": rt.store.workers.config(),
    }
