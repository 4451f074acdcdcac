"""The fan-out process (`celery -A worker.fanout_app worker -Q fediverse`), started beside each
worker by worker/scheduler.py when `SYNDICATE_ACTIVITYPUB=on`: a Celery worker of its own that
takes only the fediverse queue (fan-outs and deliveries, worker/fediverse.py). This module says
how it is started; worker/fanout_app.py is what it loads.

Deliveries mostly wait on remote servers, so it runs a thread pool; it runs at a lower CPU
priority than the renderer, so under load the kernel gives the cores to events and renders
first, and thousands of followers cost the feeds nothing (`python -m bench --only fanout`
measures it).
"""

from __future__ import annotations

import os
import socket
import sys

from syndicate.process import background_child
from worker.work import FANOUT_QUEUE as QUEUE

__all__ = ["command", "preexec"]

# Niced as a background child (syndicate.process.WORKER_NICENESS below its worker): below the
# renderer, which is only NICENESS 5 below it.
preexec = background_child

CONCURRENCY = 16  # deliveries in flight per worker


def command() -> list[str]:
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "worker.fanout_app",  # the thread pool is set there, for that process alone
        "worker",
        f"--queues={QUEUE}",
        f"--concurrency={CONCURRENCY}",
        f"--hostname=fanout-{os.getpid()}@{socket.gethostname()}",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--loglevel=INFO",
    ]
