"""Every feed a fediverse account (`SYNDICATE_ACTIVITYPUB=on`, CONTRACT §7): what we send.
What we receive (an inbox POST, verified before anything is stored) is worker/apinbox.py.

- `article_applied` (worker/tasks.py, after an event is applied; backfill never comes here):
  queues one `fan_out` message, so an event costs the same with 0 or 50,000 followers.
- `fan_out` (task `fediverse_fan_out`): a first publication plans a `Create` by `all` to its
  followers' inboxes and an `Announce` by each other feed actor the article is in to theirs; a
  change, an `Update`; an unpublish, a `Delete` to every inbox that received the article. The
  article is read as it stands when the fan-out runs: one retracted meanwhile is not shown.
- `deliver` (task `fediverse_deliver`): one activity to one inbox (a shared inbox once for all
  its followers), signed as Mastodon signs, under a lock, the intent recorded before the POST
  and the result after, so an inbox never gets one activity twice from us. 2xx: sent; 410: every
  follower delivered there goes; a refusal (4xx but 401, 408, 429) dead-letters at once;
  anything else is retried with FEDIVERSE's backoff, which holds every delivery to that host,
  and dead-lettered (`fediverse:<did>`) after the last attempt.

Both run on the `fediverse` queue, which the worker's own fan-out process consumes (a thread
pool at a lower CPU priority than the renderer, started beside it by worker/scheduler.py), so
thousands of deliveries never take the CPU from events and renders.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import urlsplit

import redis
import requests

from feeds import activitypub as ap
from feeds.article import Article, ArticleEvent
from feeds.item import item_of
from feeds.membership import ALL, AUDIO, feed_keys
from worker import enqueue, outbound, work
from worker.apsignatures import new_private_key, public_pem, sign
from worker.retry import FEDIVERSE
from worker.runtime import Runtime
from worker.store import Applied
from worker.store.dead import reason_of

SHOWS_ARTICLE = ("create", "announce", "update")  # deliveries that carry the article itself
log = logging.getLogger("syndicate.fediverse")

BODY_MAX_BYTES = 1024 * 1024  # an inbox POST (413 past it); a fetched actor document too
ANSWER_MAX_BYTES = 64 * 1024  # what is read of an inbox's answer
ACCEPT = 'application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
REFUSALS = {400, 403, 404, 405, 406, 409, 411, 413, 414, 415, 422}
BATCH = 10  # deliveries per message: the broker's cost per message is shared by ten inboxes


def letter(did: str) -> str:
    return f"fediverse:{did}"


# Keys --------------------------------------------------------------------------------------
def private_key(rt: Runtime, feed_key: str) -> bytes:
    return rt.store.fediverse.private_key(ap.username(feed_key), new_private_key)


def public_key(rt: Runtime, feed_key: str) -> str:
    return public_pem(private_key(rt, feed_key))


def feed_exists(rt: Runtime, key: str) -> bool:
    return key in (ALL, AUDIO) or rt.store.articles.is_feed(key)


# Outgoing ----------------------------------------------------------------------------------
def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def send(
    rt: Runtime, activity: dict[str, Any], kind: str, by: str, article_id: str, inboxes: set[str]
) -> int:
    """Record one activity's deliveries to `inboxes` and queue those not sent yet, `BATCH` to a
    message; the number queued."""
    if not inboxes:
        return 0
    dids = rt.store.fediverse.plan(activity, kind, by, article_id, inboxes, _host)
    for n in range(0, len(dids), BATCH):
        enqueue.send(work.FEDIVERSE_WORK, *dids[n : n + BATCH])
    return len(dids)


def _object(rt: Runtime, article: Article) -> dict[str, Any]:
    return ap.article_object(rt.site.public_url, article.id, item_of(article, rt.site.url))


def article_applied(rt: Runtime, event: ArticleEvent, applied: Applied) -> None:
    """Queue the fan-out of what an applied event did to an article (first publication,
    change, retraction); nothing when off."""
    if not rt.settings.activitypub or applied.outcome != "applied":
        return
    if applied.unpublished:
        action = "delete"
    elif event.article is None or applied.state != "published":
        return
    else:
        action = "create" if applied.first_publish else "update"
    version = str(event.version or int(time.time()))
    enqueue.send(work.FANOUT_WORK, event.article_id, action, version, round(time.time(), 3))


def fan_out(rt: Runtime, article_id: str, action: str, version: str, at: float = 0) -> int:
    """Plan and queue an article's activities to its followers' inboxes (task
    `fediverse_fan_out`): those who followed by `at`, when the event was applied (a Create or
    Announce for who followed later would depend on how long the queue was). Safe to run twice
    (a delivery already planned is not planned again, one sent is not queued again). The number
    of deliveries queued."""
    if action == "delete":
        return retract(rt, article_id)
    article = rt.store.articles.article(article_id)
    if article is None or rt.store.articles.state(article_id) != "published":
        return 0  # retracted since: its Delete has its own fan-out
    store, url = rt.store.fediverse, rt.site.public_url
    obj = _object(rt, article)
    if action == "update":
        return send(
            rt,
            ap.update(url, obj, version),
            "update",
            ap.username(ALL),
            article_id,
            store.received(article_id),
        )
    queued = send(
        rt,
        ap.create(url, obj),
        "create",
        ap.username(ALL),
        article_id,
        store.targets_of(ap.username(ALL), at or None),
    )
    for key in feed_keys(article):
        if key != ALL:
            queued += send(
                rt,
                ap.announce(url, key, obj),
                "announce",
                ap.username(key),
                article_id,
                store.targets_of(ap.username(key), at or None),
            )
    return queued


def retract(rt: Runtime, article_id: str) -> int:
    """A `Delete` (a Tombstone) of the article to every inbox that received it (an unpublish,
    a takedown)."""
    return send(
        rt,
        ap.delete(rt.site.public_url, article_id),
        "delete",
        ap.username(ALL),
        article_id,
        rt.store.fediverse.received(article_id),
    )


def deliver(rt: Runtime, did: str) -> str:
    """One activity to one inbox (task `fediverse_deliver`)."""
    store = rt.store.fediverse
    record = store.delivery(did)
    if record.get("state") in (None, "sent", "gone"):
        return record.get("state") or "unknown"
    now = time.time()
    held = store.host_retry_at(record["host"])
    if held > now + 0.05:  # its host is failing: wait with the others there
        rt.store.schedule.add(work.FEDIVERSE_WORK.name, [did], held - now)
        return "waiting"
    token = store.lock(did, 2 * rt.settings.http_timeout + 10)
    if token is None:
        return "busy"
    try:
        return _deliver_once(rt, did)
    finally:
        store.unlock(did, token)


def deliver_counted(rt: Runtime, did: str) -> str:
    """`deliver`, and whatever it raised counted as a failure of that delivery (retried with
    the host's backoff, dead-lettered after the last attempt), so one delivery's fault neither
    stops the others in its message nor leaves it waiting for ever. An inbox dedupes a repeated
    activity by its id."""
    try:
        return deliver(rt, did)
    except Exception as exc:  # noqa: BLE001 - this delivery's alone
        log.exception("fediverse delivery %s failed", did)
        try:
            record = rt.store.fediverse.delivery(did)
            if record.get("host"):
                return _failed(rt, did, record, type(exc).__name__, refused=False)
        except redis.RedisError:
            pass  # Redis away: nothing can be recorded; the delivery stays as it was
        return "error"


def _deliver_once(rt: Runtime, did: str) -> str:
    store = rt.store.fediverse
    record = store.delivery(did)
    if record.get("state") in ("sent", "gone"):
        return record["state"]
    if record.get("kind") in SHOWS_ARTICLE and rt.store.articles.state(
        record.get("article", "")
    ) in ("unpublished", "purged"):
        # Retracted while this waited (a failing host's backoff, a queue): never shown after
        # its Delete, which every inbox planned for it gets.
        store.gone(did, letter(did))
        return "retracted"
    body, inbox = store.body(record["activity"]), store.inbox(record["tid"])
    key = ap.feed_key_of(record.get("by", ""))
    if body is None or not inbox or key is None:
        store.gone(did, letter(did))
        return "gone"
    headers = {
        "Content-Type": ap.ACTIVITY_JSON,
        **sign(ap.key_id(rt.site.public_url, key), private_key(rt, key), "POST", inbox, body),
    }
    store.sending(did)  # the intent, before the call
    status, reason, refused = outbound.deliver(
        inbox,
        data=body,
        headers=headers,
        allow_private=rt.settings.allow_private_addresses,
        max_bytes=ANSWER_MAX_BYTES,
        timeout=rt.settings.http_timeout,
    )
    if refused:
        status = 403  # the guard's refusal is final, like the inbox's own
    if 200 <= status < 300:
        store.sent(did, record["host"], letter(did))
        log.info(
            "fediverse: %s %s delivered to %s",
            record["kind"],
            record.get("article", ""),
            record["host"],
        )
        return "sent"
    if status == 410:
        removed = store.remove_inbox(inbox)
        store.gone(did, letter(did))
        log.info("fediverse: %s answered 410: %d followers removed", record["host"], removed)
        return "gone"
    return _failed(rt, did, record, reason, refused=status in REFUSALS)


def _failed(rt: Runtime, did: str, record: dict[str, str], reason: str, refused: bool) -> str:
    store = rt.store.fediverse
    failures, host_failures = store.failed(did, record["host"], reason)
    log.warning(
        "fediverse: %s to %s failed (%d): %s",
        record["kind"],
        record["host"],
        failures,
        reason,
        extra={"delivery": did},
    )
    if refused or FEDIVERSE.gives_up(failures):
        rt.store.dead.add(letter(did), reason_of(reason))
        store.count("dead")
        return "dead"
    delay = FEDIVERSE.backoff_s(host_failures, rt.settings.retry_base_s)
    store.hold_host(record["host"], time.time() + delay)
    rt.store.schedule.add(work.FEDIVERSE_WORK.name, [did], delay)
    return "retry"


# Operations --------------------------------------------------------------------------------
def replay(rt: Runtime, did: str) -> bool:
    """Fresh retries for a dead-lettered delivery (`syndicate replay`, the status page)."""
    record = rt.store.fediverse.delivery(did)
    if record.get("state") not in ("queued", "sending"):
        return False
    rt.store.fediverse.reset(did, record["host"])
    enqueue.send(work.FEDIVERSE_WORK, did)
    return True


def letter_item(rt: Runtime, did: str) -> dict[str, Any]:
    """A dead-lettered delivery, by kind, host and article (never the inbox's path)."""
    record = rt.store.fediverse.delivery(did)
    return {
        "delivery": did,
        "hub": record.get("host", ""),
        "feed": record.get("by", ""),
        "article_id": record.get("article", ""),
        "error": f"{record.get('kind', '')}: {record.get('last_error', '')}",
    }


def check(rt: Runtime, on: bool) -> tuple[str, bool | None, str]:
    """`syndicate check`: whether the accounts can be found (https public URL, reachable)."""
    if not on:
        return "fediverse", None, "off (SYNDICATE_ACTIVITYPUB not on)"
    url = rt.site.public_url
    if urlsplit(url).scheme != "https":
        return (
            "fediverse",
            False,
            (f"SYNDICATE_PUBLIC_URL {url} is not https: Mastodon finds accounts over https only"),
        )
    probe = f"{url}/.well-known/webfinger?resource=acct:all@{ap.host_of(url)}"
    try:
        answer = outbound.fetch(
            probe,
            allow_private=rt.settings.allow_private_addresses,
            max_bytes=ANSWER_MAX_BYTES,
            timeout=rt.settings.http_timeout,
        )
    except requests.RequestException as exc:
        return "fediverse", False, f"{url} is not reachable ({type(exc).__name__})"
    ok = answer.status_code == 200
    return (
        "fediverse",
        ok,
        (
            f"@all@{ap.host_of(url)} is found at {url}"
            if ok
            else f"WebFinger at {url} answered HTTP {answer.status_code}"
        ),
    )
