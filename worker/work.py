"""Each kind of work, described once: its Celery task and queue, its retry policy, the name of
its entries in the Redis schedule, and its dead letters: their name, what one shows, how it
is replayed and what the operator is told to do. The Celery routes (worker/celery_app.py),
every message put on the broker (worker/enqueue.py), the scheduler that starts delayed work
again (worker/scheduler.py), the tasks (worker/tasks.py) and the dead-letter listing and replay
(worker/deadletters.py) all read this table; a new kind of work is a new row here and its task.
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
class Letters:
    """A kind's dead letters, named `<prefix>:<key>`. `show` and `replay` are "module:function"
    paths, imported when a letter is listed or replayed (those modules import this one), and
    called with the runtime and the letter's key."""

    prefix: str
    show: str  # (rt, key) -> the letter's fields on the list, its `error` among them
    replay: str  # (rt, key) -> True once its work is queued again
    hint: str  # what the operator does next when the letter's reason says no more
    # Who failed, by name, in the hint of a reason (worker/hints.py); "": the kind's hint only.
    # `show` may name it per letter (`remote`, `credentials`), as a delivery names its network.
    remote: str = ""
    credentials: tuple[str, ...] = ()  # the settings an `auth` reason points at


@dataclass(frozen=True)
class Kind:
    name: str  # its entries in the Redis schedule are named so
    task: str | None  # the Celery task; None: a render, which the renderers take from Redis
    queue: str  # the broker queue its messages go to
    retry: Retry | None  # None: it is not retried on its own (a takedown step reschedules)
    letters: Letters | None  # None: it never ends in a dead letter

    @property
    def route(self) -> dict[str, str]:
        return {"queue": self.queue, "routing_key": self.queue}


_SHOW = "worker.deadletter_kinds"  # the readers of the kinds whose own module has none

EVENT_WORK = Kind(
    "event",
    "worker.tasks.process_event",
    "events",
    EVENT,
    Letters(
        "event",
        f"{_SHOW}:event_item",
        f"{_SHOW}:replay_event",
        "The event could not be applied: fix it in the CMS and send it again, or press "
        "Retry once the cause is fixed.",
    ),
)
DELIVERY_WORK = Kind(
    "deliver",
    "worker.tasks.deliver",
    "deliveries",
    DELIVERY,
    Letters(
        "delivery",
        f"{_SHOW}:delivery_item",  # names the network and its credentials
        f"{_SHOW}:replay_delivery",
        "Press Retry once the cause is fixed.",
    ),
)
RENDER_WORK = Kind(
    "render",
    None,
    "",
    RENDER,
    Letters(
        "render",
        f"{_SHOW}:render_item",
        f"{_SHOW}:replay_render",
        "The feed failed to render (the reason says why); press Retry once it is fixed.",
    ),
)
PING_WORK = Kind(
    "ping",
    "worker.tasks.ping_hubs",
    "pings",
    PING,
    Letters(
        "ping",
        f"{_SHOW}:ping_item",
        f"{_SHOW}:replay_ping",
        "The hub kept refusing: check SYNDICATE_WEBSUB_HUBS and the hub, then press Retry.",
        remote="The hub",
        credentials=("SYNDICATE_WEBSUB_HUBS",),  # a hub's credentials are in its URL
    ),
)
TAKEDOWN_WORK = Kind("takedown", "worker.tasks.takedown", "events", None, None)
HUB_VERIFY_WORK = Kind("hubverify", "worker.tasks.hub_verify", "pings", HUB_VERIFY, None)
HUB_DELIVERY_WORK = Kind(
    "hubdeliver",
    "worker.tasks.hub_deliver",
    "pings",
    HUB_DELIVERY,
    Letters(
        "hubdelivery",
        f"{_SHOW}:hub_delivery_item",
        "worker.hub:replay",
        "A subscriber of our hub kept failing: it is retried at the feed's next change; "
        "press Retry once it answers again (410 from it ends the subscription).",
    ),
)
INDEXNOW_WORK = Kind(
    "indexnow",
    "worker.tasks.indexnow",
    "pings",
    INDEXNOW,
    Letters(
        "indexnow",
        f"{_SHOW}:indexnow_item",
        "worker.indexnow:replay",
        "IndexNow refused or kept failing: check SYNDICATE_INDEXNOW_KEY and its key file "
        "(`syndicate check`), then press Retry.",
        remote="IndexNow",
        credentials=("SYNDICATE_INDEXNOW_KEY",),
    ),
)
PODPING_WORK = Kind(
    "podping",
    "worker.tasks.podping",
    "pings",
    PODPING,
    Letters(
        "podping",
        f"{_SHOW}:podping_item",
        f"{_SHOW}:replay_podping",
        "Podping refused or kept failing: check SYNDICATE_PODPING_TOKEN, then press Retry.",
        remote="Podping",
        credentials=("SYNDICATE_PODPING_TOKEN",),
    ),
)
# The fediverse's work goes to a queue of its own, which each worker's fan-out process takes at
# a lower CPU priority (worker/scheduler.py): followers never slow events and renders.
FEDIVERSE_WORK = Kind(
    "apdeliver",
    "worker.tasks.fediverse_deliver",
    "fediverse",
    FEDIVERSE,
    Letters(
        "fediverse",
        "worker.fediverse:letter_item",
        "worker.fediverse:replay",
        "A follower's server kept failing or refused the activity (the reason says which): "
        "press Retry once it answers again.",
    ),
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
# Each kind by the prefix of its dead letters (worker/deadletters.py reads a letter so).
LETTERS: dict[str, Letters] = {k.letters.prefix: k.letters for k in KINDS.values() if k.letters}
FANOUT_QUEUE = "fediverse"  # taken by the fan-out process only, never by the worker's own pool


def routes() -> dict[str, dict[str, str]]:
    """Celery's `task_routes`: every task to its queue."""
    return {k.task: k.route for k in KINDS.values() if k.task is not None}
