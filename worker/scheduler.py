"""Two loops in each worker's main process.

- The scheduler: heartbeat, due retries from the Redis schedule, and recovery of work whose
  message was lost (an accepted event never finished, an outbox entry nobody touched).
- The renderer: renders every dirty feed, one after another, as long as any is dirty. Events only
  mark feeds dirty (in the same MULTI that changes them); while the renderer works on one feed,
  changes to the others accumulate, so a burst coalesces into as many renders as the renderer has
  time for, the last state is always rendered (a feed leaves the dirty set only if nothing
  changed since its render read it), and no Celery task is spent per render. After a render the
  feed's lock is held for SYNDICATE_RENDER_INTERVAL_MS (50): a feed that changes with every
  event (`all`) is rendered at most that often, by whichever worker, however fast events come.

Several workers running them at once is fine: every step claims its work atomically.
"""

from __future__ import annotations

import logging
import threading
import time

from celery.signals import worker_ready, worker_shutdown

from worker import enqueue, rendering
from worker.runtime import Runtime, current

log = logging.getLogger("syndicate.scheduler")

TICK_S = 0.25  # how soon a due retry is sent
HEARTBEAT_S = 1.0
SWEEP_S = 5.0
RENDER_IDLE_S = 0.01  # how often an idle renderer looks for dirty feeds
RENDER_CLAIM_TTL_S = 30  # another worker's renderer skips a feed this one is rendering

_stop = threading.Event()


def _loop(hostname: str) -> None:
    last_sweep = last_beat = 0.0
    while not _stop.is_set():
        try:
            rt = current()
            if time.monotonic() - last_beat >= HEARTBEAT_S:
                last_beat = time.monotonic()
                rt.store.workers.heartbeat(hostname)
            for task, args in rt.store.schedule.claim_due():
                _run_due(rt, task, args)
            now = time.monotonic()
            if now - last_sweep >= SWEEP_S:
                last_sweep = now
                stale_after = rt.settings.visibility_timeout * 2
                for event_id in rt.store.events.unfinished(older_than=stale_after):
                    log.warning("re-queueing unfinished event %s", event_id)
                    enqueue.process_event(event_id)
                for article_id, network in rt.store.outbox.stale_open(older_than=stale_after):
                    entry = rt.store.outbox.entry(article_id, network)
                    if float(entry.get("next_attempt_at") or 0) > time.time():
                        continue  # waiting for a rate-limit reset or backoff, as scheduled
                    action = "post" if entry.get("state") == "pending" else "delete"
                    enqueue.deliver(article_id, network, action)
        except Exception as exc:  # Redis away: keep ticking, it comes back
            log.warning("scheduler tick failed: %s: %s", type(exc).__name__, exc)
        _stop.wait(TICK_S)


def _run_due(rt: Runtime, task: str | None, args: list) -> None:
    """One due item of the Redis schedule, by its kind of work."""
    if task == "deliver":
        enqueue.deliver(*args)
    elif task == "ping":
        enqueue.ping(*args)
    elif task == "event":
        enqueue.process_event(*args)
    elif task == "render":
        rt.store.feeds.mark_dirty(*args)
    else:
        log.warning("unknown scheduled task %r dropped", task)


def _render_loop() -> None:
    while not _stop.is_set():
        rendered = 0
        try:
            rt = current()
            for key in rt.store.feeds.dirty():
                if _stop.is_set():
                    break
                token = rt.store.feeds.claim(key, RENDER_CLAIM_TTL_S)
                if token is None:
                    continue  # another worker is on it, or it was rendered a moment ago
                try:
                    rendering.render_and_publish(rt, key)  # records its own failure
                finally:
                    rt.store.feeds.release(key, token, rt.settings.render_interval_ms)
                rendered += 1
        except Exception as exc:  # Redis away: the feeds stay dirty and are rendered later
            log.warning("render loop: %s: %s", type(exc).__name__, exc)
            _stop.wait(1)
        if not rendered:
            _stop.wait(RENDER_IDLE_S)


@worker_ready.connect
def _start(sender: object = None, **_: object) -> None:
    hostname = getattr(sender, "hostname", "worker")
    _stop.clear()
    threading.Thread(target=_loop, args=(hostname,), name="syndicate-scheduler", daemon=True).start()
    threading.Thread(target=_render_loop, name="syndicate-renderer", daemon=True).start()


@worker_shutdown.connect
def _shutdown(**_: object) -> None:
    _stop.set()
