"""A small loop in each worker's main process: heartbeat, and recovery of work whose message
was lost (a dirty feed with no render queued, an accepted event never finished).

Several workers running it at once is fine: every step claims its work atomically.
"""

from __future__ import annotations

import logging
import threading
import time

from celery.signals import worker_ready, worker_shutdown

from worker.runtime import runtime

log = logging.getLogger("syndicate.scheduler")

TICK_S = 0.25  # how soon a due retry is sent
HEARTBEAT_S = 1.0
DIRTY_SWEEP_S = 5.0

_stop = threading.Event()


def _loop(hostname: str) -> None:
    from worker.tasks import deliver, ping_hubs, process_event, schedule_renders

    tasks = {"deliver": deliver, "ping": ping_hubs}

    last_sweep = last_beat = 0.0
    while not _stop.is_set():
        try:
            rt = runtime()
            if time.monotonic() - last_beat >= HEARTBEAT_S:
                last_beat = time.monotonic()
                rt.store.heartbeat(hostname)
            for item in rt.store.claim_due():
                task = tasks.get(item.get("task"))
                if task is not None:
                    task.apply_async(tuple(item.get("args", ())))
            now = time.monotonic()
            if now - last_sweep >= DIRTY_SWEEP_S:
                last_sweep = now
                schedule_renders(rt.store.dirty_feeds())
                stale_after = rt.settings.visibility_timeout * 2
                for event_id in rt.store.unfinished_events(older_than=stale_after):
                    log.warning("re-queueing unfinished event %s", event_id)
                    process_event.apply_async((event_id,))
                for article_id, network in rt.store.stale_open_outbox(older_than=stale_after):
                    entry = rt.store.outbox_entry(article_id, network)
                    if float(entry.get("next_attempt_at") or 0) > time.time():
                        continue  # waiting for a rate-limit reset or backoff, as scheduled
                    action = "post" if entry.get("state") == "pending" else "delete"
                    deliver.apply_async((article_id, network, action))
        except Exception as exc:  # Redis away: keep ticking, it comes back
            log.warning("scheduler tick failed: %s: %s", type(exc).__name__, exc)
        _stop.wait(TICK_S)


@worker_ready.connect
def _start(sender: object = None, **_: object) -> None:
    hostname = getattr(sender, "hostname", "worker")
    _stop.clear()
    threading.Thread(target=_loop, args=(hostname,), name="syndicate-scheduler", daemon=True).start()


@worker_shutdown.connect
def _shutdown(**_: object) -> None:
    _stop.set()
