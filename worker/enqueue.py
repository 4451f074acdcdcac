"""Every unit of work syndicate queues goes through here: Celery messages by task name, and
events, which the appliers take from a Redis list (worker/applier.py).

Callers (the API, the scheduler, the operator commands, the tasks themselves) need not import
`worker.tasks`, so no layer imports the one above it. Delays never go on the broker: they go to
the Redis schedule (`Store.schedule`), which the scheduler loop drains into these calls.
"""

from __future__ import annotations

from syndicate.config import public_hub_url
from worker import work
from worker.celery_app import app
from worker.runtime import current


def send(kind: work.Kind, *args: object) -> None:
    """Queue one unit of work of `kind`: an event for the appliers, anything else on the broker
    (its queue is Celery's route for it)."""
    if kind is work.EVENT_WORK:
        current().store.events.push([str(a) for a in args])
        return
    assert kind.task is not None, f"{kind.name} is not a Celery task"
    app.send_task(kind.task, args)


def process_event(event_id: str) -> None:
    """A recorded event queued (again) for the appliers: a due retry, a replay."""
    send(work.EVENT_WORK, event_id)


def deliver(article_id: str, network: str, action: str = "post", attempt: int = 1) -> None:
    send(work.DELIVERY_WORK, article_id, network, action, attempt)


def ping(feed_key: str, hub: str, attempt: int = 1) -> None:
    """`hub` is a configured hub URL or its public form: only the public form (no credentials)
    goes on the broker; the task finds the configured URL again."""
    send(work.PING_WORK, feed_key, public_hub_url(hub), attempt)


def takedown(article_id: str) -> None:
    send(work.TAKEDOWN_WORK, article_id)


def hub_verify(sid: str, rid: str, attempt: int = 1) -> None:
    """Ids only: the request (callback, secret) stays in Redis (worker/store/subscriptions.py)."""
    send(work.HUB_VERIFY_WORK, sid, rid, attempt)


def hub_deliver(sid: str) -> None:
    """Ids only: the body is read from the store at delivery time."""
    send(work.HUB_DELIVERY_WORK, sid)


def indexnow(batch_id: str = "") -> None:
    """A flush of the pending URLs (no batch), or one batch's submission: ids only."""
    send(work.INDEXNOW_WORK, batch_id)


def podping(attempt: int = 1) -> None:
    """The audio feed's change, announced through Podping (the token is never on the broker)."""
    send(work.PODPING_WORK, attempt)
