"""Status endpoints: events, articles, health, readiness, metrics."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from html import escape
from typing import Any

import redis
from prometheus_client import generate_latest
from redis.backoff import NoBackoff
from redis.retry import Retry
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api.auth import operator_only
from api.errors import problem
from feeds.article import Article
from feeds.describe import Site, describe, feed_url
from feeds.membership import ALL, AUDIO, feed_keys
from syndicate.connections import redis_client
from worker.celery_app import broker_error
from worker.ops import queue_depths
from worker.runtime import Runtime
from worker.social import share_links as links_for

EVENT_FIELDS = ("status", "type", "article_id", "received_at", "finished_at", "attempts", "error")


@operator_only()
async def get_event(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    event_id = request.path_params["event_id"]
    record = await run_in_threadpool(rt.store.events.get, event_id)
    if record is None:
        return problem(404, "no such event", event_id)
    out = {"event_id": event_id, **{k: record[k] for k in EVENT_FIELDS if record.get(k)}}
    out["result"] = json.loads(record["result"]) if record.get("result") else None
    return JSONResponse(typed(out))


# The JSON API speaks ISO 8601 times and numbers as numbers (Redis keeps strings and epochs).
TIME_FIELDS = {
    "received_at",
    "finished_at",
    "created_at",
    "updated_at",
    "sent_at",
    "last_attempt_at",
    "next_attempt_at",
    "deleted_at",
    "replayed_at",
    "refreshed_at",
}
INT_FIELDS = {"attempts", "delete_attempts", "in_flight", "delete_requested"}


def iso(epoch: str | float) -> str | None:
    try:
        return (
            datetime.fromtimestamp(float(epoch), UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z")
        )
    except (TypeError, ValueError, OverflowError):
        return None


def typed(record: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in record.items():
        if key in TIME_FIELDS and isinstance(value, str | float | int):
            out[key] = iso(value) if value != "" else None
        elif key in INT_FIELDS and isinstance(value, str):
            out[key] = int(value) if value.lstrip("-").isdigit() else value
        else:
            out[key] = value
    return out


@operator_only()
async def get_article(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    article_id = request.path_params["article_id"]
    record = await run_in_threadpool(rt.store.articles.get, article_id)
    if record is None:
        return problem(404, "no such article", article_id)
    feeds = record.get("feeds", [])
    out = {
        "id": article_id,
        "state": record.get("state"),
        "version": int(record["version"]) if record.get("version") else None,
        "first_published_at": record.get("first_published_at"),
        "last_event": record.get("last_event"),
        "article": record.get("doc"),
        "feeds": [
            {
                "key": k,
                "rss": feed_url(rt.site.public_url, k, "rss"),
                "atom": feed_url(rt.site.public_url, k, "atom"),
            }
            for k in feeds
        ],
        "timeline": record.get("timeline", []),
        "shares": {
            network: typed(entry)
            for network, entry in (
                await run_in_threadpool(rt.store.outbox.entries, article_id)
            ).items()
        },
    }
    return JSONResponse(out)


LIVENESS_TIMEOUT_S = 1.0


def _redis_answers(app: Any) -> bool:
    """A PING on a client of its own with short timeouts (a hung Redis is a failed check, not
    a hung one); in a worker thread, off the event loop."""
    client = getattr(app.state, "liveness_redis", None)
    if client is None:
        # one retry, at once: a connection left over from before a Redis restart is not an
        # outage; a hung Redis fails the check in about 2 s (compose waits 3 s)
        client = redis_client(
            app.state.runtime.settings.require_redis(),
            socket_timeout=LIVENESS_TIMEOUT_S,
            socket_connect_timeout=LIVENESS_TIMEOUT_S,
            retry=Retry(NoBackoff(), 1),
        )
        app.state.liveness_redis = client
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


async def healthz(request: Request) -> Response:
    """Liveness: 503 while Redis, without which nothing is served (no intake, no feeds), does
    not answer. Public, so no details: the operator's are at /readyz."""
    if not await run_in_threadpool(_redis_answers, request.app):
        return JSONResponse({"status": "unavailable"}, status_code=503)
    return JSONResponse({"status": "ok"})


def _readiness(rt: Runtime) -> tuple[bool, dict]:
    checks: dict[str, object] = {}
    try:
        rt.store.ping()
        checks["redis"] = "ok"
        workers = rt.store.workers.live()
        checks["workers"] = workers
    except redis.RedisError as exc:
        checks["redis"] = f"unreachable: {type(exc).__name__}"
        workers = []
    error = broker_error(timeout_s=2)
    checks["broker"] = f"unreachable: {error}" if error else "ok"
    ready = checks["redis"] == "ok" and checks["broker"] == "ok" and bool(workers)
    return ready, checks


async def readyz(request: Request) -> Response:
    """The status code for anyone (load balancers); the details for the operator only."""
    ready, checks = await run_in_threadpool(_readiness, request.app.state.runtime)
    details = checks if request.app.state.auth.allows(request) else {}
    return JSONResponse({"ready": ready, **details}, status_code=200 if ready else 503)


def _refresh_gauges(rt: Runtime, metrics) -> None:
    for q, n in queue_depths(rt).items():
        if n is not None:
            metrics.queue_depth.labels(queue=q).set(n)
    try:
        metrics.dead_letters.set(rt.store.dead.count())
        metrics.worker.totals = rt.store.counters.totals()
        hub = rt.store.subscriptions.listing(limit=0)
        metrics.hub_subscriptions.set(hub["subscriptions"])
        metrics.hub_failing.set(hub["failing"])
        metrics.hub.counts = hub["counts"]
        fedi = rt.store.fediverse.listing()
        metrics.fediverse_followers.set(fedi["followers"])
        metrics.fediverse.counts = fedi["counts"]
    except redis.RedisError:
        pass


@operator_only()
async def metrics_endpoint(request: Request) -> Response:
    metrics = request.app.state.metrics
    await run_in_threadpool(_refresh_gauges, request.app.state.runtime, metrics)
    return Response(
        generate_latest(metrics.registry), media_type="text/plain; version=0.0.4; charset=utf-8"
    )


async def share_links(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    article_id = request.path_params["article_id"]
    article = await run_in_threadpool(rt.store.articles.article, article_id)
    if article is None:
        return problem(404, "no such article", article_id)
    return JSONResponse(
        {
            "id": article_id,
            "links": links_for(rt.settings, article),
            "alternates": alternates(rt.site, article),
        }
    )


FEED_TYPES = (
    ("rss", "application/rss+xml"),
    ("atom", "application/atom+xml"),
    ("json", "application/feed+json"),
)


def alternates(site: Site, article: Article) -> list[dict[str, str]]:
    """The `<link rel="alternate">` tags the article's page should carry: one per format of each
    section, tag and author feed it is in (feed discovery for readers and browsers)."""
    out = []
    for key in feed_keys(article):
        if key in (ALL, AUDIO):
            continue
        title = describe(key, site, [article]).title
        for fmt, media_type in FEED_TYPES:
            href = feed_url(site.public_url, key, fmt)
            out.append(
                {
                    "feed": key,
                    "type": media_type,
                    "title": title,
                    "href": href,
                    "html": f'<link rel="alternate" type="{media_type}" '
                    f'title="{escape(title, quote=True)}" href="{escape(href)}">',
                }
            )
    return out
