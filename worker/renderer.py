"""The renderer: a process of its own beside each worker (`python -m worker.renderer`), started
and stopped by the worker (worker.scheduler), that renders every dirty feed as long as any is.

Events only mark feeds dirty (in the same MULTI that changes them). While the renderer works on
one feed, changes to the others accumulate, so a burst coalesces into as many renders as there is
time for; the last state is always rendered (a feed leaves the dirty set only if nothing changed
since its render read it); and no Celery task is spent per render. After a render the feed's
lock is held for SYNDICATE_RENDER_INTERVAL_MS: a feed that changes with every event (`all`) is
rendered at most that often, by whichever worker's renderer, however fast events come.

Why a process and not a thread of the worker: a thread shares the worker's interpreter lock with
Celery's consumer, so renders slowed message dispatch and `--concurrency` added no render
capacity. As a process it runs on its own core, and each worker added brings one more. It runs
at a lower CPU priority than its worker: when the cores are short, events are applied first and
the renders wait, which only makes them coalesce more (the last state is rendered either way).
Several renderers at once are fine: each render claims its feed atomically.

Which feed next (worker.store.rendered `claim_next`, one script of O(log n) steps however many feeds
are dirty): the due one with the lowest due time less its priority's bounded head start, so
`all`, then the sections, then feeds read recently go ahead of the long tail of new tags and
authors, which is still rendered oldest first and never waits behind a priority feed that
became dirty more than that head start later. Every other claim is simply the feed that has
waited longest: while `all` and the sections change with every event, they would otherwise
take every render and a tag feed would wait up to its head start; this way each side has at
least half the renders (`python -m bench` measures the tag feeds' publish-to-visible).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

from syndicate.config import Settings
from syndicate.logs import setup
from syndicate.process import stop_event_of_child
from worker import rendering
from worker.runtime import Runtime

log = logging.getLogger("syndicate.render")

IDLE_S = 0.01  # how often an idle renderer looks for dirty feeds
CLAIM_TTL_S = 30  # another renderer skips a feed this one is rendering (should this one die)
HEARTBEAT_S = 1.0
REQUEUE_S = 1.0  # how often a renderer takes a step through the dirty set for unqueued feeds
FAILED_HOLD_MS = 5000
FAIR_EVERY = 2  # half the renders by priority, half to whichever feed has waited longest
NICENESS = 5  # below its worker: under load, applying events comes first; renders coalesce


def run(rt: Runtime, stop: threading.Event) -> None:
    name = f"{socket.gethostname()}:{os.getpid()}"
    last_beat = last_requeue = 0.0
    cursor = turn = 0
    while not stop.is_set():
        try:
            if time.monotonic() - last_beat >= HEARTBEAT_S:
                rt.store.workers.renderer_heartbeat(name)  # `status` lists the live ones
                last_beat = time.monotonic()
            if time.monotonic() - last_requeue >= REQUEUE_S:  # a feed put in the set by hand
                cursor = rt.store.feeds.requeue(cursor)
                last_requeue = time.monotonic()
            turn += 1  # every FAIR_EVERY-th claim is the feed waiting longest, whatever it is
            claimed = rt.store.feeds.claim_next(CLAIM_TTL_S, oldest_first=turn % FAIR_EVERY == 0)
            if claimed is None:  # nothing dirty, or every dirty feed is being or was just rendered
                stop.wait(IDLE_S)
                continue
            key, token = claimed
            hold = rt.settings.render_interval_ms
            try:
                rendering.render_and_publish(rt, key)  # records its own failure
            except Exception:
                hold = max(hold, FAILED_HOLD_MS)  # what raised past it: the other feeds go first
                raise
            finally:
                rt.store.feeds.release(key, token, hold)
        except Exception as exc:  # Redis away: the feeds stay dirty and are rendered later
            log.warning("render loop: %s: %s", type(exc).__name__, exc)
            stop.wait(1)


def main() -> None:
    settings = Settings.from_env()
    setup(settings.log_json)
    os.nice(NICENESS)
    run(Runtime(settings), stop_event_of_child())


if __name__ == "__main__":
    main()
