"""Applying events: what an applier (worker/applier.py) or a queued `process_event` task does
with each event the API recorded.

One event: read its record, give up after EVENT's attempts, decide and apply it
(feeds/lifecycle.py through `Articles.apply`: article, membership, outbox intent and dirty feeds in
one transaction), queue the social deliveries, the IndexNow URL and the fediverse fan-out it calls
for, and record its outcome. Redis away: retried with backoff through the schedule; anything
else: dead-lettered alone, the other events go on. Running an event twice changes nothing twice.

A batch (`apply_batch`): the records of many events in one round trip, then each event as above,
in the order they were queued.
"""

from __future__ import annotations

import json
import logging

import redis
from celery.exceptions import SoftTimeLimitExceeded

from feeds.article import ArticleEvent
from worker import enqueue, fediverse, indexnow, trace
from worker.delivery import outbox_plan
from worker.retry import EVENT
from worker.runtime import Runtime
from worker.store import Applied

log = logging.getLogger("syndicate.worker")

TRANSIENT = (redis.ConnectionError, redis.TimeoutError)


def apply_batch(rt: Runtime, event_ids: list[str]) -> list[str]:
    """Apply queued events in order; their outcomes. One event's failure is its own: it is
    dead-lettered (or, Redis away, left unfinished for the sweeper) and the others go on."""
    records = rt.store.events.get_many(event_ids)
    _count_arrivals(rt, records)
    outcomes = []
    for event_id, record in zip(event_ids, records):
        try:
            outcomes.append(apply_event(rt, event_id, record, taken=True))
        except Exception:  # noqa: BLE001 - e.g. Redis gone while recording the outcome
            log.exception("event %s: not applied now; the sweeper queues it again", event_id)
            outcomes.append("unfinished")
    return outcomes


def _count_arrivals(rt: Runtime, records: list[dict[str, str] | None]) -> None:
    """The status page's chart and quiet warning: each event counted on its first take, at the
    time it was accepted (a count lost to Redis going away loses no event)."""
    firsts = [
        float(r["received_at"])
        for r in records
        if r is not None and r.get("attempts") == "1" and r.get("received_at")
    ]
    try:
        rt.store.activity.events_accepted(firsts)
    except redis.RedisError:
        pass


def apply_event(
    rt: Runtime, event_id: str, record: dict[str, str] | None = None, taken: bool = False
) -> str:
    """Apply one recorded event; its outcome. `record` if the caller read it already; `taken`
    when an applier took it (the take counted this attempt and marked it processing)."""
    events = rt.store.events
    record = events.get(event_id) if record is None else record
    if record is None or record["status"] in ("done", "failed"):
        return "skipped"
    attempts = int(record.get("attempts") or 0) - (1 if taken else 0)
    if EVENT.gives_up(attempts):
        # Every earlier attempt died without recording an outcome (a hard time limit, a
        # killed worker): stop here with what is known.
        last = record.get("error") or "none recorded"
        events.finish(
            event_id,
            "failed",
            None,
            error=f"gave up after {attempts} attempts that never finished (time limit or crash); "
            f"last error: {last}",
        )
        return "failed"
    if not taken:
        events.start(event_id)
    try:
        event = ArticleEvent.from_payload(event_id, json.loads(record["body"]))
        plan = outbox_plan(rt, event.article) if event.article is not None else {}
        applied = rt.store.articles.apply(
            event, plan, traceparent=record.get("traceparent", "")
        )  # marks the touched feeds dirty: the renderers take it from there
    except TRANSIENT as exc:
        return _transient(rt, event_id, attempts, f"{type(exc).__name__}: {exc}")
    except SoftTimeLimitExceeded:  # a Celery task's limit (process_event)
        log.error("event %s hit its time limit", event_id, extra={"event_id": event_id})
        events.finish(event_id, "failed", None, error="time limit exceeded")
        return "failed"
    except Exception as exc:  # a bug or a poisoned body: dead-letter it, keep the worker going
        log.exception("event %s failed", event_id, extra={"event_id": event_id})
        events.finish(event_id, "failed", None, error=f"{type(exc).__name__}: {exc}"[:500])
        return "failed"
    _follow_ups(rt, event, applied)
    return _done(rt, event_id, record, event, applied)


def _follow_ups(rt: Runtime, event: ArticleEvent, applied: Applied) -> None:
    """What an applied event calls for beyond the store: the social deliveries (their intent is
    in the outbox already, so the scheduler's sweep sends them should queueing fail here), the
    IndexNow URL, the fediverse fan-out. The event is applied whatever happens here."""
    for follow_up in (_share_follow_ups, indexnow.article_changed, fediverse.article_applied):
        try:
            follow_up(rt, event, applied)
        except Exception:  # noqa: BLE001 - the broker away: logged, the event stays applied
            log.exception("event %s: %s failed", event.event_id, follow_up.__name__)


def _transient(rt: Runtime, event_id: str, attempts: int, reason: str) -> str:
    """Redis away for a moment: the event again after EVENT's backoff, or given up."""
    events = rt.store.events
    try:
        if EVENT.gives_up(attempts + 1):
            events.finish(event_id, "failed", None, error=f"gave up: {reason}")
            return "failed"
        events.retry(event_id, reason, EVENT.backoff_s(attempts + 1, rt.settings.retry_base_s))
    except redis.RedisError:
        pass  # the sweeper re-queues the unfinished event once Redis is back
    log.warning("event %s: %s; retrying", event_id, reason, extra={"event_id": event_id})
    return "retry"


def _done(
    rt: Runtime, event_id: str, record: dict[str, str], event: ArticleEvent, applied: Applied
) -> str:
    if record.get("result") and applied.outcome != "applied":
        # A rerun (after a crash, or a replay) of an event already applied: keep what the first
        # run recorded as its result.
        rt.store.events.finish(event_id, "done", json.loads(record["result"]))
        return "done"
    rt.store.events.finish(event_id, "done", applied.as_dict())
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
