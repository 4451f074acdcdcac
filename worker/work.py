"""Each kind of work, described once: its Celery task and queue, its retry policy, the name of
its entries in the Redis schedule and of its dead letters. The Celery routes
(worker/celery_app.py), every message put on the broker (worker/enqueue.py), the scheduler
that starts delayed work again (worker/scheduler.py), the tasks (worker/tasks.py) and the
dead-letter listing and replay (worker/ops.py) all read this table; a new kind of work is a
new row here and its task.
"""

from __future__ import annotations

from dataclasses import dataclass

from worker.retry import (
    DELIVERY,
    EVENT,
    FEDIVERSE,
    HUB_DELIVERY,
    HUB_VERIFY,
    INDEXNOW,
    PING,
    PODPING,
    RENDER,
    Retry,
)


@dataclass(frozen=True)
class Kind:
    name: str  # its entries in the Redis schedule are named so
    task: str | None  # the Celery task; None: a render, which the renderers take from Redis
    queue: str  # the broker queue its messages go to
    retry: Retry | None  # None: it is not retried on its own (a takedown step reschedules)
    letter: str | None  # the prefix of its dead letters (`letter:...`); None: never one

    @property
    def route(self) -> dict[str, str]:
        return {"queue": self.queue, "routing_key": self.queue}


EVENT_WORK = Kind("event", "worker.tasks.process_event", "events", EVENT, "event")
DELIVERY_WORK = Kind("deliver", "worker.tasks.deliver", "deliveries", DELIVERY, "delivery")
RENDER_WORK = Kind("render", None, "", RENDER, "render")
PING_WORK = Kind("ping", "worker.tasks.ping_hubs", "pings", PING, "ping")
TAKEDOWN_WORK = Kind("takedown", "worker.tasks.takedown", "events", None, None)
HUB_VERIFY_WORK = Kind("hubverify", "worker.tasks.hub_verify", "pings", HUB_VERIFY, None)
HUB_DELIVERY_WORK = Kind(
    "hubdeliver", "worker.tasks.hub_deliver", "pings", HUB_DELIVERY, "hubdelivery"
)
INDEXNOW_WORK = Kind("indexnow", "worker.tasks.indexnow", "pings", INDEXNOW, "indexnow")
PODPING_WORK = Kind("podping", "worker.tasks.podping", "pings", PODPING, "podping")
# The fediverse's work goes to a queue of its own, which each worker's fan-out process takes at
# a lower CPU priority (worker/scheduler.py): followers never slow events and renders.
FEDIVERSE_WORK = Kind(
    "apdeliver", "worker.tasks.fediverse_deliver", "fediverse", FEDIVERSE, "fediverse"
)  # activities to fediverse inboxes, one delivery each (worker/fediverse.py)
FANOUT_WORK = Kind("apfanout", "worker.tasks.fediverse_fan_out", "fediverse", EVENT, None)

KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        EVENT_WORK,
        DELIVERY_WORK,
        RENDER_WORK,
        PING_WORK,
        TAKEDOWN_WORK,
        HUB_VERIFY_WORK,
        HUB_DELIVERY_WORK,
        INDEXNOW_WORK,
        PODPING_WORK,
        FEDIVERSE_WORK,
        FANOUT_WORK,
    )
}
QUEUES = ("events", "deliveries", "pings", "fediverse")
FANOUT_QUEUE = "fediverse"  # taken by the fan-out process only, never by the worker's own pool


def routes() -> dict[str, dict[str, str]]:
    """Celery's `task_routes`: every task to its queue."""
    return {k.task: k.route for k in KINDS.values() if k.task is not None}
