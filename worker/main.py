"""What `celery -A worker.main worker` loads: the Celery app, its tasks, and the scheduler's
signals (the scheduler loop and the renderer process start with each worker)."""

from worker import scheduler as _scheduler  # noqa: F401  (connects the worker signals)
from worker import tasks as _tasks  # noqa: F401  (registers the tasks)
from worker.celery_app import app

__all__ = ["app"]
