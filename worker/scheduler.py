"""What each worker's main process runs beside Celery's consumer.

- The scheduler (a thread): heartbeat, due retries from the Redis schedule, and recovery of work
  whose message was lost (an event taken by an applier that died, an outbox entry nobody
  touched).
- The applier and the renderer (child processes, worker.applier and worker.renderer): started
  when the worker is ready, started again should they exit, stopped with the worker.
- With `SYNDICATE_ACTIVITYPUB=on`, the fan-out process (worker.fanout): a Celery worker of its
  own taking only the `fediverse` queue, with a thread pool (deliveries wait on the network)
  and a lower CPU priority than the renderer; the worker's own pool leaves that queue to it.

Several workers running them at once is fine: every step claims its work atomically.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from typing import Any

from celery.signals import celeryd_after_setup, worker_ready, worker_shutdown

from syndicate.process import die_with_parent, stop
from worker import enqueue, fanout, work
from worker.runtime import Runtime, current

log = logging.getLogger("syndicate.scheduler")

TICK_S = 0.25  # how soon a due retry is sent
HEARTBEAT_S = 1.0
SWEEP_S = 5.0

_stop = threading.Event()


def _loop(hostname: str) -> None:
    last_sweep = last_beat = 0.0
    while not _stop.is_set():
        try:
            rt = current()
            if time.monotonic() - last_beat >= HEARTBEAT_S:
                last_beat = time.monotonic()
                rt.store.workers.heartbeat(hostname)
                _renderer.ensure()
                _applier.ensure()
                if rt.settings.activitypub:
                    _fanout.ensure()
            for task, args in rt.store.schedule.claim_due():
                _run_due(rt, task, args)
            now = time.monotonic()
            if now - last_sweep >= SWEEP_S:
                last_sweep = now
                stale_after = rt.settings.visibility_timeout * 2
                for event_id in rt.store.events.requeue_stale(older_than=stale_after):
                    log.warning("re-queued unfinished event %s", event_id)
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
    """One due item of the Redis schedule, by its kind of work (worker/work.py)."""
    kind = work.KINDS.get(task or "")
    if kind is None:
        log.warning("unknown scheduled task %r dropped", task)
    elif kind.task is None:
        rt.store.feeds.mark_dirty(*args)  # a render: the renderers take it from Redis
    else:
        enqueue.send(kind, *args)


class _Child:
    """A child process of this worker, kept running: it gets SIGTERM if the worker dies, and
    its output goes where the worker's goes."""

    def __init__(self, name: str, command: list[str], preexec: Any = die_with_parent) -> None:
        self.name, self.command, self.preexec = name, command, preexec
        self.proc: subprocess.Popen | None = None
        self._lock = threading.Lock()

    def ensure(self) -> None:
        with self._lock:
            if _stop.is_set() or (self.proc is not None and self.proc.poll() is None):
                return
            if self.proc is not None:
                log.warning("%s exited (%s); starting it again", self.name, self.proc.returncode)
            self.proc = subprocess.Popen(self.command, preexec_fn=self.preexec)

    def stop(self) -> None:
        with self._lock:
            stop(self.proc, 10)
            self.proc = None


_renderer = _Child("renderer", [sys.executable, "-m", "worker.renderer"])
_applier = _Child("applier", [sys.executable, "-m", "worker.applier"])
_fanout = _Child("fan-out process", fanout.command(), fanout.preexec)


@celeryd_after_setup.connect
def _leave_the_fanout_queue(sender: object = None, instance: Any = None, **_: object) -> None:
    """The worker's own pool never takes the fediverse queue: its fan-out process does."""
    queues = instance.app.amqp.queues
    if fanout.QUEUE in queues.consume_from and len(queues.consume_from) > 1:
        queues.deselect([fanout.QUEUE])


@worker_ready.connect
def _start(sender: object = None, **_: object) -> None:
    hostname = getattr(sender, "hostname", "worker")
    _stop.clear()
    _applier.ensure()
    _renderer.ensure()
    if current().settings.activitypub:
        _fanout.ensure()
    threading.Thread(
        target=_loop, args=(hostname,), name="syndicate-scheduler", daemon=True
    ).start()


@worker_shutdown.connect
def _shutdown(**_: object) -> None:
    _stop.set()
    _applier.stop()
    _renderer.stop()
    _fanout.stop()
