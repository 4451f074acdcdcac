"""Every message syndicate puts on the broker goes through here, by task name.

Callers (the API, the scheduler, the operator commands, the tasks themselves) need not import
`worker.tasks`, so no layer imports the one above it. Delays never go on the broker: they go to
the Redis schedule (`Store.schedule`), which the scheduler loop drains into these calls.
"""

from __future__ import annotations

from syndicate.config import public_hub_url
from worker.celery_app import app

PROCESS_EVENT = "worker.tasks.process_event"
DELIVER = "worker.tasks.deliver"
PING = "worker.tasks.ping_hubs"
TAKEDOWN = "worker.tasks.takedown"
INDEXNOW = "worker.tasks.indexnow"
PODPING = "worker.tasks.podping"
HUB_VERIFY = "worker.tasks.hub_verify"
HUB_DELIVER = "worker.tasks.hub_deliver"


def process_event(event_id: str) -> None:
    app.send_task(PROCESS_EVENT, (event_id,))


def deliver(article_id: str, network: str, action: str = "post", attempt: int = 1) -> None:
    app.send_task(DELIVER, (article_id, network, action, attempt))


def ping(feed_key: str, hub: str, attempt: int = 1) -> None:
    """`hub` is a configured hub URL or its public form: only the public form (no credentials)
    goes on the broker; the task finds the configured URL again."""
    app.send_task(PING, (feed_key, public_hub_url(hub), attempt))


def takedown(article_id: str) -> None:
    app.send_task(TAKEDOWN, (article_id,))


def hub_verify(sid: str, rid: str, attempt: int = 1) -> None:
    """Ids only: the request (callback, secret) stays in Redis (worker/store/subscriptions.py)."""
    app.send_task(HUB_VERIFY, (sid, rid, attempt))


def hub_deliver(sid: str) -> None:
    """Ids only: the body is read from the store at delivery time."""
    app.send_task(HUB_DELIVER, (sid,))


def indexnow(batch_id: str = "") -> None:
    """A flush of the pending URLs (no batch), or one batch's submission: ids only."""
    app.send_task(INDEXNOW, (batch_id,))


def podping(attempt: int = 1) -> None:
    """The audio feed's change, announced through Podping (the token is never on the broker)."""
    app.send_task(PODPING, (attempt,))
