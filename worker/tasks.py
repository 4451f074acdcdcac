"""Celery tasks, one per kind of work in worker/work.py (its name, queue and retry policy are
there): apply an event, deliver to a network, ping a hub, a takedown step, our hub's
verifications and deliveries, IndexNow and Podping. Each is safe to run twice.

A transient failure (Redis away, a time limit) is retried with the kind's backoff through the
Redis schedule; anything else, or the last attempt, ends in a dead letter with its reason.
Renders are not tasks: the renderer processes (worker/renderer.py) take every feed an event
marked dirty.
"""

from __future__ import annotations

import json
import logging

import redis
from celery.exceptions import SoftTimeLimitExceeded

from feeds.article import ArticleEvent
from worker import enqueue, fediverse, hub, indexnow, podping, trace, websub, work
from worker import takedown as takedowns
from worker.celery_app import app
from worker.delivery import Delivery, outbox_plan
from worker.retry import EVENT
from worker.runtime import Runtime, current
from worker.store import Applied

log = logging.getLogger("syndicate.worker")

TRANSIENT = (redis.ConnectionError, redis.TimeoutError)


@app.task(name=work.EVENT_WORK.task)
def process_event(event_id: str) -> str:
    rt = current()
    events = rt.store.events
    record = events.get(event_id)
    if record is None or record["status"] in ("done", "failed"):
        return "skipped"
    attempts = int(record.get("attempts") or 0)
    if EVENT.gives_up(attempts):
        # Every earlier attempt died without recording an outcome (a hard time limit, a
        # killed worker): stop here with what is known.
        events.finish(
            event_id,
            "failed",
            None,
            error=(
                f"gave up after {attempts} attempts that never finished (time limit or crash); "
                f"last error: {record.get('error') or 'none recorded'}"
            ),
        )
        return "failed"
    events.start(event_id)
    try:
        event = ArticleEvent.from_payload(event_id, json.loads(record["body"]))
        plan = outbox_plan(rt, event.article) if event.article is not None else {}
        applied = rt.store.articles.apply(
            event, plan, traceparent=record.get("traceparent", "")
        )  # marks the touched feeds dirty: the
        _share_follow_ups(rt, event, applied)  # renderer (worker.scheduler) takes it from there
        indexnow.article_changed(rt, event, applied)  # its URL, when IndexNow is on
        _federate(rt, event, applied)  # Create/Announce/Update/Delete, when ActivityPub is on
    except TRANSIENT as exc:
        reason = f"{type(exc).__name__}: {exc}"
        try:
            if EVENT.gives_up(attempts + 1):
                events.finish(event_id, "failed", None, error=f"gave up: {reason}")
                return "failed"
            events.retry(event_id, reason, EVENT.backoff_s(attempts + 1, rt.settings.retry_base_s))
        except redis.RedisError:
            pass  # the sweeper re-queues the unfinished event once Redis is back
        log.warning("event %s: %s; retrying", event_id, reason, extra={"event_id": event_id})
        return "retry"
    except SoftTimeLimitExceeded:
        limit = app.conf.task_soft_time_limit
        log.error("event %s hit the %s s time limit", event_id, limit, extra={"event_id": event_id})
        events.finish(event_id, "failed", None, error=f"time limit exceeded ({limit} s)")
        return "failed"
    except Exception as exc:  # a bug or a poisoned body: dead-letter it, keep the worker going
        log.exception("event %s failed", event_id, extra={"event_id": event_id})
        events.finish(event_id, "failed", None, error=f"{type(exc).__name__}: {exc}"[:500])
        return "failed"
    if record.get("result") and applied.outcome != "applied":
        # A rerun (after a crash, or a replay) of an event already applied: keep what the first
        # run recorded as its result.
        events.finish(event_id, "done", json.loads(record["result"]))
        return "done"
    events.finish(event_id, "done", applied.as_dict())
    log.info(
        "event %s %s article %s: %s",
        event_id,
        event.type,
        event.article_id,
        applied.outcome,
        extra={
            "event_id": event_id,
            "article_id": event.article_id,
            "trace_id": trace.trace_id(record.get("traceparent")),
        },
    )
    return applied.outcome


def _share_follow_ups(rt: Runtime, event: ArticleEvent, applied: Applied) -> None:
    """Queue the social work an applied event calls for (the outbox already records it)."""
    if applied.outcome != "applied":
        return
    if applied.first_publish or applied.unpublished:
        for network, entry in rt.store.outbox.entries(event.article_id).items():
            if entry.get("state") == "pending" or entry.get("delete_requested") == "1":
                enqueue.deliver(
                    event.article_id, network, "post" if applied.first_publish else "delete"
                )
    elif applied.state == "published":
        for network, channel in rt.channels.items():
            if not channel.refreshes_on_update:
                continue
            if rt.store.outbox.entry(event.article_id, network).get("state") in ("pending", "sent"):
                enqueue.deliver(event.article_id, network, "refresh")


@app.task(name=work.DELIVERY_WORK.task)
def deliver(article_id: str, network: str, action: str = "post", attempt: int = 1) -> str:
    """Post, delete or refresh one article on one network; see worker.delivery."""
    return Delivery(current(), article_id, network).run(action, attempt)


@app.task(name=work.PING_WORK.task)
def ping_hubs(feed_key: str, hub: str, attempt: int = 1) -> bool:
    return websub.ping(current(), feed_key, hub, attempt)


@app.task(name=work.TAKEDOWN_WORK.task)
def takedown(article_id: str) -> str:
    """One step of a takedown (`syndicate purge`); see worker.takedown. A step that fails is
    tried again through the schedule until twice its deadline (`takedown.step_failed`)."""
    rt = current()
    try:
        return takedowns.step(rt, article_id)
    except Exception as exc:  # noqa: BLE001 - the takedown must go on, whatever happened
        log.warning(
            "takedown of %s: %s: %s; trying again",
            article_id,
            type(exc).__name__,
            exc,
            extra={"article_id": article_id},
        )
        try:
            return takedowns.step_failed(rt, article_id, f"{type(exc).__name__}: {exc}")
        except redis.RedisError:
            return "retry"  # nothing to schedule with: `syndicate purge` again starts it over


@app.task(name=work.HUB_VERIFY_WORK.task)
def hub_verify(sid: str, rid: str, attempt: int = 1) -> str:
    """Our own hub's verification of intent of one request; see worker.hub."""
    rt = current()
    return hub.verify(rt, sid, rid, attempt) if rt.settings.websub_hub else "off"


@app.task(name=work.HUB_DELIVERY_WORK.task)
def hub_deliver(sid: str) -> str:
    """Our own hub's delivery of a topic's current bytes to one subscriber; see worker.hub."""
    rt = current()
    return hub.deliver(rt, sid) if rt.settings.websub_hub else "off"


@app.task(name=work.INDEXNOW_WORK.task)
def indexnow_submit(batch_id: str = "") -> str:
    """IndexNow: flush the pending URLs into a batch, or submit one batch; see worker.indexnow."""
    return indexnow.run(current(), batch_id)


@app.task(name=work.PODPING_WORK.task)
def podping_send(attempt: int = 1) -> str:
    """Podping: announce the audio feed's current bytes once; see worker.podping."""
    return podping.send(current())


def _federate(rt: Runtime, event: ArticleEvent, applied: Applied) -> None:
    """The fediverse's deliveries of an applied event (worker/fediverse.py); a failure there is
    logged and never fails the event."""
    try:
        fediverse.article_applied(rt, event, applied)
    except Exception:  # noqa: BLE001 - the event is applied; its federation is reported
        log.exception("event %s: federating article %s failed", event.event_id, event.article_id)


@app.task(name=work.FANOUT_WORK.task)
def fediverse_fan_out(article_id: str, action: str, version: str) -> int:
    """An article's activities planned for its fediverse followers; see worker.fediverse."""
    rt = current()
    if not rt.settings.activitypub:
        return 0
    try:
        return fediverse.fan_out(rt, article_id, action, version)
    except TRANSIENT:  # Redis away for a moment: the same fan-out again, planned once
        rt.store.schedule.add(work.FANOUT_WORK.name, [article_id, action, version], 5)
        return 0


@app.task(name=work.FEDIVERSE_WORK.task)
def fediverse_deliver(*dids: str) -> list[str]:
    """Activities to fediverse inboxes, one delivery each, one after the other (a message
    carries up to fediverse.BATCH); see worker.fediverse."""
    rt = current()
    if not rt.settings.activitypub:
        return ["off"]
    outcomes = []
    for did in dids:
        try:
            outcomes.append(fediverse.deliver(rt, did))
        except Exception:  # noqa: BLE001 - one delivery's bug never stops the others
            log.exception("fediverse delivery %s failed", did)
            outcomes.append("error")
    return outcomes
