"""The Celery no-op ceiling: how fast a worker of the same shape drains tasks that do nothing,
on the same Redis server (database 1), with the same delivery settings as syndicate's worker.

The bench publishes the tasks first, then starts `celery -A bench.noop worker` and watches the
queue drain from outside, so the figure is Celery's own per-task cost and nothing else.
"""

from __future__ import annotations

from celery import Celery

from syndicate.config import Settings
from worker.celery_app import app as service_app

QUEUE = "bench-noop"


def noop_broker_url(redis_url: str) -> str:
    return redis_url.rsplit("/", 1)[0] + "/1"


app = Celery("bench-noop")


def _configuration() -> dict:
    """The service's own transport settings, on a broker database of its own (read lazily)."""
    settings = Settings.from_env()
    return dict(
        broker_url=noop_broker_url(settings.require_redis()),
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=service_app.conf.worker_prefetch_multiplier,
        broker_transport_options=service_app.conf.broker_transport_options,
        task_default_queue=QUEUE,
        worker_hijack_root_logger=False,
    )


app.add_defaults(_configuration)


@app.task(name="bench.noop")
def noop() -> None:
    """Nothing: the ceiling is what Celery costs per task."""
