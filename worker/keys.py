"""Every Redis key syndicate uses, built in one place (after python-rq's `keys.py`).

Inspect any of them with `redis-cli`: hashes with HGETALL, sorted sets with ZRANGE ... WITHSCORES.
"""

PREFIX = "syn:"

# Events ---------------------------------------------------------------------------------------
# hash: status (queued|processing|done|failed), type, article_id, body (the JSON as received),
# received_at, finished_at, attempts, result (JSON: what the event changed), error
def event(event_id: str) -> str:
    return f"{PREFIX}event:{event_id}"


EVENTS_RECENT = f"{PREFIX}events:recent"  # zset event id -> accepted at (epoch s), trimmed
EVENTS_UNFINISHED = f"{PREFIX}events:unfinished"  # zset event id -> accepted at; the sweeper's list
DEAD_LETTERS = f"{PREFIX}dead"  # zset "event:<id>" / "delivery:<article>:<network>" /
# "render:<feed>" / "ping:<feed>:<hub>" -> failed at
REPLAYED = f"{PREFIX}dead:replayed"  # hash dead-letter name -> replayed at (epoch s)


# Articles -------------------------------------------------------------------------------------
# hash: state (published|unpublished), version, time (ISO), doc (Article JSON), feeds (JSON list),
# first_published_at, last_event, timeline (JSON list)
def article(article_id: str) -> str:
    return f"{PREFIX}article:{article_id}"


ARTICLES = f"{PREFIX}articles"  # zset article id -> last change (epoch s)


def article_events(article_id: str) -> str:
    """zset event id -> accepted at: the events of one article (what `purge` removes); expires
    with the events themselves."""
    return f"{PREFIX}article:{article_id}:events"


AUDIT = f"{PREFIX}audit"  # list of JSON records (newest first): purges, kept after the article


# Feeds ----------------------------------------------------------------------------------------
def feed_items(feed_key: str) -> str:
    """zset article id -> published_at (epoch s): the feed's membership, newest highest."""
    return f"{PREFIX}feed:{feed_key}:items"


def feed_deleted(feed_key: str) -> str:
    """zset article id -> retracted at (epoch s): RFC 6721 deleted entries still announced."""
    return f"{PREFIX}feed:{feed_key}:deleted"


def feed_body(feed_key: str, fmt: str) -> str:
    """string: the rendered bytes of one format (rss|atom|json)."""
    return f"{PREFIX}feed:{feed_key}:body:{fmt}"


def feed_meta(feed_key: str) -> str:
    """hash: etag:<fmt>, size:<fmt>, last_modified (HTTP date), rendered_version, items,
    rendered_at, renders (how many, changed or not), pinged_at, pinged_hub."""
    return f"{PREFIX}feed:{feed_key}:meta"


def feed_version(feed_key: str) -> str:
    """counter: bumped on every change to the feed's membership or its articles."""
    return f"{PREFIX}feed:{feed_key}:version"


def feed_render_scheduled(feed_key: str) -> str:
    """flag (SET NX, with expiry): a worker's renderer is rendering this feed now."""
    return f"{PREFIX}feed:{feed_key}:render-scheduled"


FEEDS = f"{PREFIX}feeds"  # set of every feed key that ever had an item
FEEDS_DIRTY = f"{PREFIX}feeds:dirty"  # set of feed keys changed since their last render


# Social outbox --------------------------------------------------------------------------------
def outbox(article_id: str, network: str) -> str:
    """hash: state, remote_id, attempts, last_error, payload_hash, in_flight, updated_at, ..."""
    return f"{PREFIX}outbox:{article_id}:{network}"


def outbox_lock(article_id: str, network: str) -> str:
    return f"{PREFIX}outbox:{article_id}:{network}:lock"


# Runtime --------------------------------------------------------------------------------------
WORKERS = f"{PREFIX}workers"  # zset worker hostname -> last heartbeat (epoch s)
SCHEDULE = f"{PREFIX}schedule"  # zset JSON task descriptor -> due at (epoch s)
COUNTERS = f"{PREFIX}counters"  # hash: renders, render_seconds, delivery:<network>:<state>, ...
OUTBOX_OPEN = f"{PREFIX}outbox:open"  # zset "<article id>\t<network>" -> last touched (epoch s):
# entries with work left (a post not yet made, a delete requested); the sweeper's list
