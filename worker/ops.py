"""What the operator commands and the status page do, as functions of a Runtime.

`syndicate backfill|rebuild|replay|status|check` (cli/) and the page at `/`
(api/page.py) are thin shells around these, so the terminal and the browser tell the same story.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis
import requests

from feeds.article import ArticleEvent
from feeds.validation import validate_event
from syndicate import __version__
from syndicate.config import Settings, public_hub_url
from worker import enqueue, fediverse, indexnow, podping
from worker import hub as own_hub
from worker.celery_app import QUEUES, app
from worker.http import RemoteSession
from worker.runtime import Runtime
from worker.social import NETWORKS, REGISTRY, enabled_networks
from worker.social.errors import DeliveryError, HealthWarning
from worker.websub import configured_hub

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
        item: dict[str, Any] = {
            "name": letter.name,
            "kind": letter.kind,
            "failed_at": letter.failed_at,
            "replayed_at": letter.replayed_at,
            "article_id": letter.article_id,
        }
        if letter.kind == "event":
            record = events.get(letter.event_id, {})
            item.update(
                event_id=letter.event_id,
                article_id=record.get("article_id", ""),
                error=record.get("error", ""),
            )
        elif letter.kind == "render":
            item.update(
                feed=letter.feed,
                error=rt.store.feeds.render_error(letter.feed)
                or rt.store.exports.error(letter.feed),
            )
        elif letter.kind == "ping":
            item.update(
                feed=letter.feed, hub=letter.hub, error="the hub kept refusing or was unreachable"
            )
        elif letter.kind == "indexnow":
            item.update(batch=letter.batch, error=indexnow.last_error(rt, letter.batch))
        elif letter.kind == "podping":
            item.update(feed=letter.feed, error=podping.last_error(rt))
        elif letter.kind in ("hubdelivery", "fediverse"):
            item.update(
                _hub_letter(rt, letter.subscription)
                if letter.kind == "hubdelivery"
                else fediverse.letter_item(rt, letter.delivery)
            )
        else:
            entry = rt.store.outbox.entry(letter.article_id, letter.network)
            item.update(
                network=letter.network, error=entry.get("last_error") or entry.get("reason", "")
            )
        item["hint"] = hint(item)
        out.append(item)
    titles = rt.store.articles.titles([i["article_id"] for i in out if i.get("article_id")])
    for item in out:
        item["title"] = titles.get(item.get("article_id", ""), "")
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
        elif kind in ("indexnow", "podping"):
            item["replayed"] = (
                indexnow.replay(rt, item["batch"]) if kind == "indexnow" else podping.replay(rt)
            )
        elif kind == "ping":
            if configured_hub(rt, item["hub"]) is not None:
                enqueue.ping(item["feed"], item["hub"])
                item["replayed"] = True
        elif kind in ("hubdelivery", "fediverse"):
            item["replayed"] = (
                own_hub.replay(rt, item["subscription"])
                if kind == "hubdelivery"
                else fediverse.replay(rt, item["delivery"])
            )
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


CREDENTIAL_WORDS = ("TOKEN", "SECRET", "KEY", "PASSWORD", "PAGE_ID")
REFUSED = (
    "401",
    "code 190",
    "invalid oauth",
    "unauthorized",
    "expired",
    "invalid credentials",
    "autherror",
    "invalid token",
)


def hint(item: dict[str, Any]) -> str:
    """What an editor or the on-call engineer does next about one dead letter."""
    error = (item.get("error") or "").lower()
    kind = item["kind"]
    if kind == "event":
        return (
            "The event could not be applied: fix it in the CMS and send it again, or press "
            "Retry once the cause is fixed."
        )
    if kind == "render":
        return "The feed failed to render (the reason says why); press Retry once it is fixed."
    if kind == "ping":
        return "The hub kept refusing: check SYNDICATE_WEBSUB_HUBS and the hub, then press Retry."
    if kind == "indexnow":
        return (
            "IndexNow refused or kept failing: check SYNDICATE_INDEXNOW_KEY and its key file "
            "(`syndicate check`), then press Retry."
        )
    if kind == "podping":
        return "Podping refused or kept failing: check SYNDICATE_PODPING_TOKEN, then press Retry."
    if kind == "hubdelivery":
        return (
            "A subscriber of our hub kept failing: it is retried at the feed's next change; "
            "press Retry once it answers again (410 from it ends the subscription)."
        )
    cls = REGISTRY.get(item.get("network", ""))
    name = cls.__name__ if cls else item.get("network", "the network")
    if "uncertain attempt" in error:
        return f"Look on {name} for a post of this article and delete it by hand if there is one."
    if any(word in error for word in REFUSED):
        variables = (
            [
                f.validation_alias
                for f in cls.settings_class.model_fields.values()
                if isinstance(f.validation_alias, str)
                and any(w in f.validation_alias for w in CREDENTIAL_WORDS)
            ]
            if cls
            else []
        )
        return (
            f"{name} token expired or was revoked: set {' / '.join(variables) or 'its token'}"
            f", restart the service and press Retry."
        )
    if "could not check for an earlier post" in error:
        return f"Look on {name} for a post of this article; if there is none, press Retry."
    if "403" in error or "permission" in error or "forbidden" in error:
        return (
            f"{name} refused the post (permission or content): check the account, then press Retry."
        )
    if "gave up" in error:
        return f"{name} kept failing (down or rate-limited): press Retry once it is back."
    return "Press Retry once the cause is fixed."


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


# Check ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Check:
    name: str
    ok: bool | None  # None: off, nothing to check
    detail: str
    warning: bool = False  # a failure that does not fail `check`


def check(rt: Runtime) -> list[Check]:
    """Prove each configured piece works: Redis, the broker, each network with a cheap
    authenticated call, each hub; say what is off. Where a running service published its
    configuration, that is what is checked against (not this shell's environment)."""
    settings = rt.settings
    out: list[Check] = []
    service = None
    if settings.redis_url is None:
        out.append(
            Check(
                "redis",
                False,
                "no Redis: set SYNDICATE_REDIS_URL, or start `syndicate run` in this directory",
            )
        )
    else:
        out += _check_redis_and_broker(rt)
        if out[0].ok:
            service = rt.store.workers.config()
    if service:
        out.append(
            Check(
                "service",
                True,
                f"running {service['version']} since "
                f"{service['started_at']} at {service['public_url']}",
            )
        )
    secret_set = settings.webhook_secret or (service and service["webhook_secret"] == "set")
    out.append(
        Check("webhook secret", True, "set")
        if secret_set
        else Check(
            "webhook secret", None, "not set: `syndicate run` creates one, `syndicate api` refuses"
        )
    )
    owner_set = settings.podcast_owner_email or (
        service and service["podcast_owner_email"] == "set"
    )
    out.append(
        Check("podcast owner", True, "set")
        if owner_set
        else Check(
            "podcast owner",
            False,
            "SYNDICATE_PODCAST_OWNER_EMAIL not set: the audio feed lacks "
            "itunes:owner (podcast directories want it)",
            warning=True,
        )
    )
    for network in NETWORKS:
        channel = rt.channels.get(network)
        if channel is None:
            running = service and network in service["networks"]
            out.append(
                Check(
                    network,
                    None if not running else False,
                    "off (no credentials)"
                    if not running
                    else "on in the running service, but its credentials are not in this "
                    "shell's environment: run `check` with the service's settings",
                    warning=True,
                )
            )
            continue
        try:
            out.append(Check(network, True, channel.health_check()))
        except DeliveryError as exc:
            out.append(
                Check(
                    network,
                    False,
                    f"{REGISTRY[network].__name__}: {exc.reason}",
                    warning=isinstance(exc, HealthWarning),
                )
            )
    if not settings.websub_hubs:
        out.append(Check("websub", None, "off (SYNDICATE_WEBSUB_HUBS not set)"))
    out.append(_check_own_hub(settings, service))
    for hub in settings.websub_hubs:
        out.append(_check_hub(rt, hub))
    out.append(Check(*indexnow.check(rt)))
    out.append(Check(*podping.check(rt), warning=True))
    out.append(Check(*fediverse.check(rt, settings.activitypub)))
    if not any(c.ok for c in out if c.name in ("redis", "broker")):
        out.append(Check("reachable", False, "nothing configured could be reached"))
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


def _hub_letter(rt: Runtime, sid: str) -> dict[str, Any]:
    """A dead-lettered delivery of our own hub, by host and topic (never the callback URL)."""
    sub = rt.store.subscriptions.get(sid)
    if sub is None:
        return {"subscription": sid, "error": "the subscription has ended"}
    return {
        "subscription": sid,
        "feed": sub.feed,
        "hub": sub.host,
        "error": f"{sub.host} kept failing for {sub.topic}: {sub.last_error}",
    }


def _check_own_hub(settings: Settings, service: dict[str, Any] | None) -> Check:
    """Whether our own hub is on (in the running service, if one published its settings)."""
    on = service.get("websub_hub") == "on" if service else settings.websub_hub
    where = settings.public_url or (service or {}).get("public_url") or "PUBLIC_URL"
    if on:
        return Check("own hub", True, f"on at {where}/hub (subscribers are pushed each change)")
    return Check("own hub", None, "off (SYNDICATE_WEBSUB_HUB not on)")
