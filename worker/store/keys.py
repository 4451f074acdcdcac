"""An index of every Redis key syndicate uses, for `redis-cli`, the tests and the bench. Each
key is defined by the module of its domain; this only gathers them (hashes: HGETALL; sorted
sets: ZRANGE ... WITHSCORES)."""

from worker.store import indexnow as _indexnow
from worker.store import news as _news
from worker.store import podping as _podping
from worker.store._prefix import PREFIX
from worker.store.articles import (
    ARTICLES,
    FEEDS,
    article_key,
    deleted_key,
    items_key,
    rendered_key,
)
from worker.store.channels import state_key
from worker.store.counters import COUNTERS
from worker.store.dead import DEAD, REASONS, REPLAYED
from worker.store.events import PAUSED, READY, RECENT, UNFINISHED, article_events_key, event_key
from worker.store.exports import export_key
from worker.store.outbox import OPEN, entry_key, lock_key
from worker.store.purges import AUDIT
from worker.store.render_queue import DIRTY, render_lock_key
from worker.store.rendered import body_key, meta_key, version_key
from worker.store.schedule import SCHEDULE
from worker.store.sessions import LOGIN_FAILURES, login_failures_key, session_key
from worker.store.subscriptions import COUNTS as HUB_COUNTS
from worker.store.subscriptions import FAILING as HUB_FAILING
from worker.store.subscriptions import HOSTS as HUB_HOSTS
from worker.store.subscriptions import INTENTS as HUB_INTENTS
from worker.store.subscriptions import SUBS as HUB_SUBS
from worker.store.subscriptions import TOPICS as HUB_TOPICS
from worker.store.subscriptions import feed_subs_key, host_key, intent_key, sub_key
from worker.store.subscriptions import lock_key as hub_lock_key
from worker.store.takedowns import takedown_key
from worker.store.workers import RENDERERS, SERVICE, WORKERS

__all__ = [
    "ARTICLES",
    "AUDIT",
    "COUNTERS",
    "DEAD",
    "DIRTY",
    "FEEDS",
    "OPEN",
    "PREFIX",
    "PAUSED",
    "READY",
    "RECENT",
    "REASONS",
    "RENDERERS",
    "REPLAYED",
    "SCHEDULE",
    "SERVICE",
    "UNFINISHED",
    "WORKERS",
    "article_events_key",
    "article_key",
    "body_key",
    "deleted_key",
    "entry_key",
    "event_key",
    "export_key",
    "items_key",
    "lock_key",
    "meta_key",
    "render_lock_key",
    "rendered_key",
    "state_key",
    "takedown_key",
    "version_key",
]
__all__ += ["LOGIN_FAILURES", "login_failures_key", "session_key"]
__all__ += [
    "HUB_COUNTS",
    "HUB_FAILING",
    "HUB_HOSTS",
    "HUB_INTENTS",
    "HUB_SUBS",
    "HUB_TOPICS",
    "feed_subs_key",
    "host_key",
    "hub_lock_key",
    "intent_key",
    "sub_key",
]

# Search engines and podcast apps (news sitemap, IndexNow, Podping)
NEWS_PUBLISHED, NEWS_VERSION, news_entry_key = _news.PUBLISHED, _news.VERSION, _news.entry_key
INDEXNOW_PENDING, INDEXNOW_FLUSH = _indexnow.PENDING, _indexnow.FLUSH
INDEXNOW_BATCHES, INDEXNOW_STATS = _indexnow.BATCHES, _indexnow.STATS
indexnow_batch_key, indexnow_batch_lock_key = _indexnow.batch_key, _indexnow.batch_lock_key
podping_state_key, podping_lock_key = _podping.state_key, _podping.lock_key
__all__ += [
    "INDEXNOW_BATCHES",
    "INDEXNOW_FLUSH",
    "INDEXNOW_PENDING",
    "INDEXNOW_STATS",
    "NEWS_PUBLISHED",
    "NEWS_VERSION",
    "indexnow_batch_key",
    "indexnow_batch_lock_key",
    "news_entry_key",
    "podping_lock_key",
    "podping_state_key",
]

# The fediverse (worker/store/fediverse.py)
from worker.store import fediverse as _ap  # noqa: E402

AP_KEYS, AP_ACTORS, AP_TARGETS, AP_FAILING, AP_COUNTS = (
    _ap.KEYS,
    _ap.ACTORS,
    _ap.TARGETS,
    _ap.FAILING,
    _ap.COUNTS,
)
ap_followers_key, ap_delivery_key, ap_body_key = _ap.followers_key, _ap.delivery_key, _ap.body_key
ap_received_key, ap_remote_key, ap_flood_key = _ap.received_key, _ap.remote_key, _ap.flood_key
ap_host_key, ap_lock_key = _ap.host_key, _ap.lock_key
__all__ += [
    "AP_ACTORS",
    "AP_COUNTS",
    "AP_FAILING",
    "AP_KEYS",
    "AP_TARGETS",
    "ap_body_key",
    "ap_delivery_key",
    "ap_flood_key",
    "ap_followers_key",
    "ap_host_key",
    "ap_lock_key",
    "ap_received_key",
    "ap_remote_key",
]

# The status page: hourly activity, event arrivals, operator actions
from worker.store.actions import ACTIONS  # noqa: E402
from worker.store.activity import ARRIVALS as ACTIVITY_ARRIVALS  # noqa: E402
from worker.store.activity import hour_key as activity_hour_key  # noqa: E402

__all__ += ["ACTIONS", "ACTIVITY_ARRIVALS", "activity_hour_key"]
