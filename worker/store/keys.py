"""An index of every Redis key syndicate uses, for `redis-cli`, the tests and the bench. Each
key is defined by the module of its domain; this only gathers them (hashes: HGETALL; sorted
sets: ZRANGE ... WITHSCORES)."""

from worker.store._prefix import PREFIX
from worker.store.articles import (
                                   ARTICLES,
                                   AUDIT,
                                   FEEDS,
                                   article_key,
                                   deleted_key,
                                   items_key,
                                   rendered_key,
)
from worker.store.channels import state_key
from worker.store.counters import COUNTERS
from worker.store.dead import DEAD, REPLAYED
from worker.store.events import RECENT, UNFINISHED, article_events_key, event_key
from worker.store.exports import export_key
from worker.store.feeds import DIRTY, body_key, meta_key, render_lock_key, version_key
from worker.store.outbox import OPEN, entry_key, lock_key
from worker.store.schedule import SCHEDULE
from worker.store.sessions import LOGIN_FAILURES, login_failures_key, session_key
from worker.store.takedowns import takedown_key
from worker.store.workers import RENDERERS, SERVICE, WORKERS

__all__ = ["ARTICLES", "AUDIT", "COUNTERS", "DEAD", "DIRTY", "FEEDS", "OPEN", "PREFIX", "RECENT", "RENDERERS",
           "REPLAYED", "SCHEDULE", "SERVICE", "UNFINISHED", "WORKERS", "article_events_key", "article_key",
           "body_key", "deleted_key", "entry_key", "event_key", "export_key", "items_key", "lock_key",
           "meta_key", "render_lock_key", "rendered_key", "state_key", "takedown_key", "version_key"]
__all__ += ["LOGIN_FAILURES", "login_failures_key", "session_key"]
