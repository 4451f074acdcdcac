"""What a dead letter of each kind of work shows, and how it is replayed, for the kinds whose own
module has no such functions (the fediverse's are in worker/fediverse.py, the hub's replay in
worker/hub.py, IndexNow's in worker/indexnow.py). The table of kinds (worker/work.py) names
them; worker/deadletters.py calls them with the runtime and the letter's key (its name after
the prefix). A `show` gives the letter's fields on the list, its `error` (as its domain stored
it, masked) among them; a `replay` queues the work again and says whether it did.
"""

from __future__ import annotations

from typing import Any

from worker import enqueue, indexnow, podping
from worker.runtime import Runtime
from worker.social import REGISTRY
from worker.websub import configured_hub

CREDENTIAL_WORDS = ("TOKEN", "SECRET", "KEY", "PASSWORD", "PAGE_ID")


# event:<event id> -----------------------------------------------------------------------------
def event_item(rt: Runtime, event_id: str) -> dict[str, Any]:
    record = rt.store.events.summaries([event_id]).get(event_id, {})
    return {
        "event_id": event_id,
        "article_id": record.get("article_id", ""),
        "error": record.get("error", ""),
    }


def replay_event(rt: Runtime, event_id: str) -> bool:
    if not rt.store.events.requeue(event_id):
        return False
    enqueue.process_event(event_id)
    return True


# delivery:<article id>:<network> ----------------------------------------------------------------
def delivery_item(rt: Runtime, key: str) -> dict[str, Any]:
    """The entry's last error, and who failed with the settings that hold its credentials."""
    article_id, _, network = key.rpartition(":")
    entry = rt.store.outbox.entry(article_id, network)
    cls = REGISTRY.get(network)
    return {
        "article_id": article_id,
        "network": network,
        "error": entry.get("last_error") or entry.get("reason", ""),
        "remote": cls.__name__ if cls else network,
        "credentials": tuple(
            f.validation_alias
            for f in (cls.settings_class.model_fields.values() if cls else ())
            if isinstance(f.validation_alias, str)
            and any(w in f.validation_alias for w in CREDENTIAL_WORDS)
        ),
    }


def replay_delivery(rt: Runtime, key: str) -> bool:
    article_id, _, network = key.rpartition(":")
    action = rt.store.outbox.reopen(article_id, network)
    if not action:
        return False
    enqueue.deliver(article_id, network, action)
    return True


# render:<feed key> ------------------------------------------------------------------------------
def render_item(rt: Runtime, feed_key: str) -> dict[str, Any]:
    error = rt.store.feeds.render_error(feed_key) or rt.store.exports.error(feed_key)
    return {"feed": feed_key, "error": error}


def replay_render(rt: Runtime, feed_key: str) -> bool:
    rt.store.feeds.retry(feed_key)
    return True


# ping:<feed key>:<hub's public URL> (feed keys hold no ":"; hub URLs do) ------------------------
def ping_item(rt: Runtime, key: str) -> dict[str, Any]:
    feed, _, hub = key.partition(":")
    return {"feed": feed, "hub": hub, "error": "the hub kept refusing or was unreachable"}


def replay_ping(rt: Runtime, key: str) -> bool:
    feed, _, hub = key.partition(":")
    if configured_hub(rt, hub) is None:
        return False  # no longer configured: nothing to ping
    enqueue.ping(feed, hub)
    return True


# hubdelivery:<subscription id> ------------------------------------------------------------------
def hub_delivery_item(rt: Runtime, sid: str) -> dict[str, Any]:
    """A dead-lettered delivery of our own hub, by host and topic (never the callback URL)."""
    sub = rt.store.subscriptions.get(sid)
    if sub is None:
        return {"subscription": sid, "error": "the subscription has ended"}
    return {
        "subscription": sid,
        "feed": sub.feed,
        "hub": sub.host,
        "error": f"{sub.host} kept failing for {sub.topic}: {sub.last_error}",
    }


# indexnow:<batch id> ----------------------------------------------------------------------------
def indexnow_item(rt: Runtime, batch_id: str) -> dict[str, Any]:
    return {"batch": batch_id, "error": indexnow.last_error(rt, batch_id)}


# podping:<feed key> -----------------------------------------------------------------------------
def podping_item(rt: Runtime, feed_key: str) -> dict[str, Any]:
    return {"feed": feed_key, "error": podping.last_error(rt)}


def replay_podping(rt: Runtime, feed_key: str) -> bool:
    return podping.replay(rt)  # one audio feed: its state is the only one
