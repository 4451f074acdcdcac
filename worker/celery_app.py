"""The Celery app, set up for at-least-once delivery on Redis.

- `acks_late` + `task_reject_on_worker_lost`: a task whose worker dies is run again, not lost.
- No countdown or ETA anywhere near the visibility timeout: waits of seconds to minutes (rate
  limits, backoff) go to the Redis schedule (`worker.scheduler`), not to Celery ETAs, which
  kombu would hand out again after the visibility timeout (kombu#337).
- Every task is idempotent, so a rerun after a crash changes nothing twice.
"""

from __future__ import annotations

from celery import Celery
from celery.signals import setup_logging
from kombu import Exchange, Queue

from syndicate.config import Settings
from syndicate.connections import celery_broker
from syndicate.logs import setup
from worker import work
from worker.runtime import Runtime, current, install

QUEUES = work.QUEUES

app = Celery("syndicate", include=["worker.tasks"])


@setup_logging.connect
def _logging(**_: object) -> None:
    """Our format (plain or JSON lines, secrets masked) instead of Celery's."""
    setup(current().settings.log_json)


def _configuration() -> dict:
    """Celery's configuration from this process's runtime, built from the environment if no
    entry point installed one (`celery -A worker.main worker`). Celery asks for it lazily, when its
    configuration is first read."""
    try:
        settings = current().settings
    except RuntimeError:
        settings = install(Runtime(Settings.from_env())).settings
    broker, transport = celery_broker(settings.broker or settings.require_redis())
    vt = settings.visibility_timeout
    return dict(
        broker_url=broker,
        result_backend=None,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=4,
        task_soft_time_limit=max(vt // 2, 3),
        task_time_limit=max(vt - 5, 4),
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": vt,
            "unacked_restore_interval": 2,
            "unacked_restore_throttle": 1,
            **transport,
        },
        task_publish_retry_policy={
            "max_retries": 2,
            "interval_start": 0.05,
            "interval_step": 0.1,
            "interval_max": 0.2,
        },
        # One exchange and routing key per queue: with a shared default binding every message
        # would be copied into every queue.
        task_queues=[
            Queue(name, Exchange(name, type="direct"), routing_key=name) for name in QUEUES
        ],
        task_default_exchange="events",
        task_default_routing_key="events",
        task_default_queue="events",
        task_routes=work.routes(),  # each kind of work to its queue (worker/work.py)
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        worker_send_task_events=False,
        enable_utc=True,
    )


app.add_defaults(_configuration)


def broker_error(timeout_s: float) -> str:
    """Whether the broker answers: "" if it does, else the name of what went wrong (never the
    URL, which may hold a password). `check`, `/readyz` and intake ask it."""
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout_s)
        return ""
    except Exception as exc:  # noqa: BLE001 - any transport error means unreachable
        return type(exc).__name__
