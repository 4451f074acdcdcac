"""The worker side: Celery app and tasks, the Redis store, outbound HTTP clients.

`celery -A worker worker` finds `app` here.
"""

from worker import scheduler as _scheduler  # noqa: F401  (connects the worker signals)
from worker.celery_app import app

__all__ = ["app"]
