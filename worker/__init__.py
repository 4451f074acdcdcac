"""The worker side: the Redis store, each kind of work, the networks, the renderer, the
Celery app and tasks. Importing a module here loads nothing else: `celery -A worker.main worker`
loads the Celery app with its tasks and the scheduler's signals (worker/main.py).
"""
