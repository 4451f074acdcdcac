"""Celery tasks, one per kind of work in worker/work.py (its name, queue and retry policy are
there): deliver to a network, ping a hub, a takedown step, our hub's verifications and
deliveries, IndexNow and Podping, the fediverse's fan-out and deliveries. Each is safe to run
twice.

A transient failure (Redis away, a time limit) is retried with the kind's backoff through the
Redis schedule; anything else, or the last attempt, ends in a dead letter with its reason.
Events and renders are not tasks: the appliers (worker/applier.py) take queued events from Redis
in batches, the renderers (worker/renderer.py) every feed an event marked dirty.
"""

from __future__ import annotations

import logging

import redis

from worker import applying, fediverse, hub, indexnow, podping, websub, work
from worker import takedown as takedowns
from worker.applying import TRANSIENT
from worker.celery_app import app
from worker.delivery import Delivery
from worker.runtime import current

log = logging.getLogger("syndicate.worker")


@app.task(name=work.EVENT_WORK.task)
def process_event(event_id: str) -> str:
    """One event (a message queued before the appliers took over, or by an older version): the
    same as an applier does; see worker.applying."""
    return applying.apply_event(current(), event_id)


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


@app.task(name=work.FANOUT_WORK.task)
def fediverse_fan_out(article_id: str, action: str, version: str, at: float = 0) -> int:
    """An article's activities planned for its fediverse followers; see worker.fediverse."""
    rt = current()
    if not rt.settings.activitypub:
        return 0
    try:
        return fediverse.fan_out(rt, article_id, action, version, at)
    except TRANSIENT:  # Redis away for a moment: the same fan-out again, planned once
        rt.store.schedule.add(work.FANOUT_WORK.name, [article_id, action, version, at], 5)
        return 0


@app.task(name=work.FEDIVERSE_WORK.task)
def fediverse_deliver(*dids: str) -> list[str]:
    """Activities to fediverse inboxes, one delivery each, one after the other (a message
    carries up to fediverse.BATCH); see worker.fediverse."""
    rt = current()
    if not rt.settings.activitypub:
        return ["off"]
    return [fediverse.deliver_counted(rt, did) for did in dids]
