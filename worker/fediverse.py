"""Every feed a fediverse account (`SYNDICATE_ACTIVITYPUB=on`, CONTRACT §7): the work.

- `receive` (api/fediverse.py calls it off the event loop): an inbox POST, verified before
  anything is stored: the body parsed within bounds (size, JSON depth), the signature's key
  fetched by `keyId` (worker/outbound.py: public addresses only, timeouts, a size limit) or
  taken from the cache, and fetched once more when a cached key fails; the key's owner must be
  the activity's `actor`. Then `Follow` (stored within the bounds, its `Accept` queued),
  `Undo` of a Follow (the follower goes); anything else is taken and ignored.
- `article_applied` (worker/tasks.py, after an event is applied; backfill never comes here):
  a first publication plans a `Create` by `all` to its followers' inboxes and an `Announce`
  by each other feed actor the article is in to theirs; a change, an `Update`; an unpublish, a
  `Delete` to every inbox that received the article.
- `deliver` (task `fediverse_deliver`): one activity to one inbox (a shared inbox once for all
  its followers), signed as Mastodon signs, under a lock, the intent recorded before the POST
  and the result after, so an inbox never gets one activity twice from us. 2xx: sent; 410: every
  follower delivered there goes; a refusal (4xx but 401, 408, 429) dead-letters at once;
  anything else is retried with FEDIVERSE's backoff, which holds every delivery to that host,
  and dead-lettered (`fediverse:<did>`) after the last attempt.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import unquote, urlsplit

import requests

from feeds import activitypub as ap
from feeds.article import Article, ArticleEvent
from feeds.item import item_of
from feeds.membership import ALL, AUDIO, feed_keys
from worker import enqueue, outbound, work
from worker.apsignatures import (
    Unverified,
    checked_public_key,
    new_private_key,
    public_pem,
    sign,
    signer_of,
    verify_cavage,
    verify_rfc9421,
)
from worker.retry import FEDIVERSE
from worker.runtime import Runtime
from worker.store import Applied

SHOWS_ARTICLE = ("create", "announce", "update")  # deliveries that carry the article itself
log = logging.getLogger("syndicate.fediverse")

BODY_MAX_BYTES = 1024 * 1024  # an inbox POST (413 past it); a fetched actor document too
ANSWER_MAX_BYTES = 64 * 1024  # what is read of an inbox's answer
REMOTE_TTL_S = 86400  # a remote key is fetched again after a day (or when it fails)
ACCEPT = 'application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
REFUSALS = {400, 403, 404, 405, 406, 409, 411, 413, 414, 415, 422}


class Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def letter(did: str) -> str:
    return f"fediverse:{did}"


# Keys --------------------------------------------------------------------------------------
def private_key(rt: Runtime, feed_key: str) -> bytes:
    return rt.store.fediverse.private_key(ap.username(feed_key), new_private_key)


def public_key(rt: Runtime, feed_key: str) -> str:
    return public_pem(private_key(rt, feed_key))


def feed_exists(rt: Runtime, key: str) -> bool:
    return key in (ALL, AUDIO) or rt.store.articles.is_feed(key)


# Incoming ----------------------------------------------------------------------------------
def parse_json(body: bytes) -> dict[str, Any]:
    """A JSON object within ap.JSON_MAX_DEPTH levels, or `Refused` (400)."""
    try:
        return ap.parse(body)
    except ValueError as exc:
        raise Refused(400, str(exc)) from None


def _id(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and len(value) <= 2048 else ""


def fetch_document(rt: Runtime, url: str) -> dict[str, Any]:
    """A remote ActivityPub document, fetched through the guard, signed by `all`."""
    key = private_key(rt, ALL)
    headers = {"Accept": ACCEPT, **sign(ap.key_id(rt.site.public_url, ALL), key, "GET", url)}
    answer = outbound.fetch(
        url,
        allow_private=rt.settings.allow_private_addresses,
        max_bytes=BODY_MAX_BYTES,
        timeout=rt.settings.http_timeout,
        headers=headers,
    )
    if answer.status_code != 200:
        raise Unverified(f"fetching the key answered HTTP {answer.status_code}")
    try:
        return parse_json(answer.content)
    except Refused:
        raise Unverified("the key's document is not a JSON object") from None


def _fetch_key(rt: Runtime, key_id: str) -> dict[str, str]:
    """{owner, pem, inbox} of a remote key: its actor's document (`keyId` with or without its
    fragment); a separate key document must name an owner whose actor names this key."""
    doc = fetch_document(rt, key_id.split("#", 1)[0])
    if "publicKey" not in doc and _id(doc.get("owner")):
        doc = fetch_document(rt, _id(doc["owner"]))
    key = doc.get("publicKey")
    keys = key if isinstance(key, list) else [key]
    found = next((k for k in keys[:8] if isinstance(k, dict) and k.get("id") == key_id), None)
    if found is None or _id(found.get("owner")) != _id(doc):
        raise Unverified("the key's actor does not name this key as its own")
    endpoints: dict[str, Any] = doc["endpoints"] if isinstance(doc.get("endpoints"), dict) else {}
    inbox = (
        _id(endpoints.get("sharedInbox")) or _id(doc.get("sharedInbox")) or _id(doc.get("inbox"))
    )
    return {
        "owner": _id(doc),
        "pem": checked_public_key(found.get("publicKeyPem")),
        "inbox": inbox,
        "own_inbox": _id(doc.get("inbox")),
    }


def _check(
    spec: str,
    rt: Runtime,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes,
    key_id: str,
    pem: str,
) -> None:
    if spec == "cavage":
        verify_cavage(method, path, headers, body, pem)
    else:
        scheme = urlsplit(rt.site.public_url).scheme
        verify_rfc9421(
            method, f"{scheme}://{headers.get('host', '')}{path}", headers, body, key_id, pem
        )


def verified_signer(
    rt: Runtime, method: str, path: str, headers: dict[str, str], body: bytes, actor: str
) -> dict[str, str]:
    """The key record of the request's verified signer, who must be `actor`; `Unverified` if
    there is none. A cached key that fails is fetched again once (the actor may have changed
    its key); a fetched key is kept only once it verified a request of its owner's."""
    spec, key_id = signer_of(headers)
    store = rt.store.fediverse
    cached = store.remote(key_id)
    if cached is not None:
        try:
            _check(spec, rt, method, path, headers, body, key_id, cached["pem"])
            return cached
        except Unverified:
            pass
    try:
        fresh = _fetch_key(rt, key_id)
    except outbound.Refused as exc:
        raise Unverified(f"the key's URL is refused: {str(exc).split(':')[0]}") from None
    except requests.RequestException as exc:
        raise Unverified(f"the key could not be fetched ({type(exc).__name__})") from None
    _check(spec, rt, method, path, headers, body, key_id, fresh["pem"])
    if fresh["owner"] != actor:
        raise Unverified("the signer is not the activity's actor")
    store.remember_remote(key_id, fresh, REMOTE_TTL_S)  # only a key that verified is kept
    return fresh


def receive(
    rt: Runtime, user: str | None, method: str, path: str, headers: dict[str, str], body: bytes
) -> tuple[int, str]:
    """An inbox POST (`user` None: the shared inbox): (HTTP status, reason)."""
    try:
        activity = parse_json(body)
        try:
            signer = verified_signer(rt, method, path, headers, body, _id(activity.get("actor")))
        except Unverified as exc:
            raise Refused(401, str(exc)) from None
        if _id(activity.get("actor")) != signer["owner"]:
            raise Refused(401, "the signer is not the activity's actor")
        return _apply(rt, user, activity, signer)
    except Refused as exc:
        rt.store.fediverse.count("refused")
        log.info("fediverse: inbox refused (%d): %s", exc.status, exc.reason)
        return exc.status, exc.reason


def _ours(rt: Runtime, value: Any) -> str | None:
    """The feed key of one of our actors' ids, if it is one."""
    prefix = rt.site.public_url.rstrip("/") + "/ap/actors/"
    url = _id(value)
    if not url.startswith(prefix):
        return None
    key = ap.feed_key_of(unquote(url[len(prefix) :]))
    return key if key is not None and feed_exists(rt, key) else None


def _apply(
    rt: Runtime, user: str | None, activity: dict[str, Any], signer: dict[str, str]
) -> tuple[int, str]:
    kind, actor = activity.get("type"), signer["owner"]
    if kind == "Follow":
        key = _ours(rt, activity.get("object"))
        if key is None or (user is not None and ap.username(key) != user):
            raise Refused(404, "no such account here")
        return _follow(rt, key, activity, signer)
    obj = activity.get("object")
    if kind == "Undo" and isinstance(obj, dict) and obj.get("type") == "Follow":
        if _id(obj.get("actor")) not in ("", actor):
            raise Refused(401, "an Undo of someone else's Follow")
        key = _ours(rt, obj.get("object"))
        if key is not None:
            rt.store.fediverse.unfollow(ap.username(key), actor)
        return 202, "unfollowed"
    if kind == "Undo" and isinstance(obj, str):  # the Follow by its id alone
        for key in [ALL, *rt.store.articles.all_feeds()]:
            if rt.store.fediverse.unfollow(ap.username(key), actor, follow_id=obj):
                break
        return 202, "unfollowed"
    return 202, "taken"


def _follow(
    rt: Runtime, key: str, follow: dict[str, Any], signer: dict[str, str]
) -> tuple[int, str]:
    s = rt.settings
    inbox = signer["inbox"]
    host = urlsplit(inbox).hostname or ""
    if not inbox or not host:
        raise Refused(400, "the follower has no inbox")
    outcome = rt.store.fediverse.follow(
        ap.username(key),
        signer["owner"],
        inbox,
        _id(follow),
        host,
        s.activitypub_max_followers,
        s.activitypub_follows_per_host,
    )
    if outcome in ("full", "flood"):
        raise Refused(
            429,
            "too many followers"
            if outcome == "full"
            else f"too many follows from {host}: try again later",
        )
    embedded: dict[str, Any] = {
        k: follow[k] for k in ("id", "type", "actor", "object") if k in follow
    }
    accept = ap.accept(rt.site.public_url, key, embedded, str(int(time.time() * 1000)))
    _send(rt, accept, "accept", ap.username(key), "", {signer.get("own_inbox") or inbox})
    log.info("fediverse: %s follows %s (%s)", host, ap.username(key), outcome)
    return 202, "followed"


# Outgoing ----------------------------------------------------------------------------------
def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def _send(
    rt: Runtime, activity: dict[str, Any], kind: str, by: str, article_id: str, inboxes: set[str]
) -> int:
    if not inboxes:
        return 0
    dids = rt.store.fediverse.plan(activity, kind, by, article_id, inboxes, _host)
    for did in dids:
        enqueue.send(work.FEDIVERSE_WORK, did)
    return len(dids)


def _object(rt: Runtime, article: Article) -> dict[str, Any]:
    return ap.article_object(rt.site.public_url, article.id, item_of(article, rt.site.url))


def article_applied(rt: Runtime, event: ArticleEvent, applied: Applied) -> None:
    """Federate what an applied event did to an article (first publication, change,
    retraction); nothing when off."""
    if not rt.settings.activitypub or applied.outcome != "applied":
        return
    store, url = rt.store.fediverse, rt.site.public_url
    if applied.unpublished:
        retract(rt, event.article_id)
    elif event.article is None or applied.state != "published":
        return
    elif applied.first_publish:
        obj = _object(rt, event.article)
        _send(
            rt,
            ap.create(url, obj),
            "create",
            ap.username(ALL),
            event.article_id,
            store.targets_of(ap.username(ALL)),
        )
        for key in feed_keys(event.article):
            if key != ALL:
                _send(
                    rt,
                    ap.announce(url, key, obj),
                    "announce",
                    ap.username(key),
                    event.article_id,
                    store.targets_of(ap.username(key)),
                )
    else:
        version = str(event.version or int(time.time()))
        _send(
            rt,
            ap.update(url, _object(rt, event.article), version),
            "update",
            ap.username(ALL),
            event.article_id,
            store.received(event.article_id),
        )


def retract(rt: Runtime, article_id: str) -> int:
    """A `Delete` (a Tombstone) of the article to every inbox that received it (an unpublish;
    a purge should call this too)."""
    return _send(
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
        rt.store.dead.add(letter(did))
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
