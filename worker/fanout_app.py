"""What the fan-out process loads (`celery -A worker.fanout_app worker`, started by
worker/fanout.py): the Celery app and its tasks, with a thread pool, since deliveries wait on the
network. Only that process imports this module: the worker's own pool stays prefork. It loads
no scheduler signals, so the fan-out process starts no scheduler and no renderer of its own.
"""

from celery.concurrency.thread import TaskPool

from worker import tasks as _tasks  # noqa: F401  (registers the tasks)
from worker.celery_app import app

app.conf.worker_pool = TaskPool

__all__ = ["app"]
