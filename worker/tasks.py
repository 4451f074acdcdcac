"""Celery tasks: apply an event, render a feed. Each is safe to run twice."""

from __future__ import annotations

import json
import logging

import redis
from celery.exceptions import SoftTimeLimitExceeded

from feeds.article import ArticleEvent
from worker import ops, websub
from worker.celery_app import app
from worker.delivery import Delivery, outbox_plan
from worker.runtime import runtime

log = logging.getLogger("syndicate.worker")

TRANSIENT = (redis.ConnectionError, redis.TimeoutError, SoftTimeLimitExceeded)


@app.task(bind=True, name="worker.tasks.process_event", max_retries=8)
def process_event(self, event_id: str) -> str:
    rt = runtime()
    store = rt.store
    record = store.event(event_id)
    if record is None or record["status"] in ("done", "failed"):
        return "skipped"
    store.start_event(event_id)
    try:
        event = ArticleEvent.from_payload(event_id, json.loads(record["body"]))
        plan = outbox_plan(rt, event.article) if event.article is not None else {}
        applied = store.apply_event(event, plan)  # marks the touched feeds dirty: the
        _share_follow_ups(rt, event, applied)      # renderer (worker.scheduler) takes it from there
    except TRANSIENT as exc:
        if self.request.retries >= self.max_retries:
            store.finish_event(event_id, "failed", None, error=f"gave up: {exc}")
            raise
        raise self.retry(exc=exc, countdown=min(2 ** self.request.retries, 10))
    except Exception as exc:  # a bug or a poisoned body: dead-letter it, keep the worker going
        log.exception("event %s failed", event_id, extra={"event_id": event_id})
        store.finish_event(event_id, "failed", None, error=f"{type(exc).__name__}: {exc}")
        return "failed"
    if record.get("result") and applied.outcome != "applied":
        # A rerun (after a crash, or a replay) of an event already applied: keep what the first
        # run recorded as its result.
        store.finish_event(event_id, "done", json.loads(record["result"]))
        return "done"
    store.finish_event(event_id, "done", applied.as_dict())
    log.info("event %s %s article %s: %s", event_id, event.type, event.article_id,
             applied.outcome, extra={"event_id": event_id, "article_id": event.article_id})
    return applied.outcome


def _share_follow_ups(rt, event: ArticleEvent, applied) -> None:
    """Queue the social work an applied event calls for (the outbox already records it)."""
    if applied.outcome != "applied":
        return
    if applied.first_publish or applied.unpublished:
        for network, entry in rt.store.outbox_entries(event.article_id).items():
            if entry.get("state") == "pending" or entry.get("delete_requested") == "1":
                deliver.apply_async((event.article_id, network, "post" if applied.first_publish
                                     else "delete"))
    elif applied.state == "published" and "facebook" in rt.channels:
        entry = rt.store.outbox_entry(event.article_id, "facebook")
        if entry.get("state") in ("pending", "sent"):
            deliver.apply_async((event.article_id, "facebook", "refresh"))


@app.task(name="worker.tasks.deliver")
def deliver(article_id: str, network: str, action: str = "post", attempt: int = 1) -> str:
    """Post, delete or refresh one article on one network; see worker.delivery."""
    return Delivery(runtime(), article_id, network).run(action, attempt)


@app.task(bind=True, name="worker.tasks.render_feed", max_retries=8)
def render_feed(self, feed_key: str) -> bool:
    try:
        return ops.render_and_publish(runtime(), feed_key).changed
    except TRANSIENT as exc:
        raise self.retry(exc=exc, countdown=min(2 ** self.request.retries, 10))


@app.task(name="worker.tasks.ping_hubs")
def ping_hubs(feed_key: str, hub: str, attempt: int = 1) -> bool:
    return websub.ping(runtime(), feed_key, hub, attempt)
