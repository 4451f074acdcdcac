"""The applier: a process of its own beside each worker (`python -m worker.applier`), started
and stopped by the worker (worker.scheduler), that applies the events the API queued.

The API records an event and queues its id in one step (worker/store/events.py `accept`); the
applier takes up to BATCH queued ids at once (waiting when there are none), reads their records
in one round trip and applies them in order (worker/applying.py). So an event costs no broker
message and no Celery dispatch, which were a third of its CPU; a burst is taken in batches.

Nothing is lost if it is killed: an event taken and not finished is queued again by the
sweeper (worker.scheduler) once SYNDICATE_VISIBILITY_TIMEOUT has passed twice, and applying it
again changes nothing twice. Several appliers (one per worker) share the queue; two events of
one article applied at once are ordered by their versions, as before.
"""

from __future__ import annotations

import logging
import threading

from syndicate.config import Settings
from syndicate.logs import setup
from syndicate.process import stop_event_of_child
from worker import applying
from worker.runtime import Runtime, install

log = logging.getLogger("syndicate.applier")

BATCH = 64  # events taken at once
WAIT_S = 0.5  # how long one wait for an event lasts (then the stop flag is looked at)


def run(rt: Runtime, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            event_ids = rt.store.events.take(BATCH, WAIT_S)
            if event_ids:
                applying.apply_batch(rt, event_ids)
        except Exception as exc:  # Redis away: the events wait in Redis for it to come back
            log.warning("applier: %s: %s", type(exc).__name__, exc)
            stop.wait(1)


def main() -> None:
    settings = Settings.from_env()
    setup(settings.log_json)
    run(install(Runtime(settings)), stop_event_of_child())


if __name__ == "__main__":
    main()
