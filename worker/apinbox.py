"""A fediverse inbox POST (CONTRACT §7), verified before anything is stored
(api/fediverse.py calls `receive` off the event loop).

The body is parsed within bounds (size, JSON depth); the signature's key is fetched by `keyId`
(worker/outbound.py: public addresses only, timeouts, a size limit) or taken from the cache, and
fetched once more when a cached key fails; the key's owner must be the activity's `actor`. Then
`Follow` (stored within the bounds, its `Accept` queued), `Undo` of a Follow (the follower
goes), `Delete` of the sender's own account (it follows nothing here any more); anything else
is taken and ignored. What we send is worker/fediverse.py.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import unquote, urlsplit

import requests

from feeds import activitypub as ap
from feeds.membership import ALL
from worker import outbound
from worker.apsignatures import (
    Unverified,
    checked_public_key,
    sign,
    signer_of,
    verify_cavage,
    verify_rfc9421,
)
from worker.fediverse import (
    ACCEPT,
    BODY_MAX_BYTES,
    feed_exists,
    private_key,
    send,
)
from worker.runtime import Runtime

log = logging.getLogger("syndicate.fediverse")

REMOTE_TTL_S = 86400  # a remote key is fetched again after a day (or when it fails)


class Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


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
        for username in rt.store.fediverse.following(actor):
            if rt.store.fediverse.unfollow(username, actor, follow_id=obj):
                break
        return 202, "unfollowed"
    if kind == "Delete" and _id(obj) == actor:  # the account itself was deleted
        removed = rt.store.fediverse.forget(actor)
        log.info("fediverse: a deleted account left %d follows", removed)
        return 202, "forgotten"
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
    send(rt, accept, "accept", ap.username(key), "", {signer.get("own_inbox") or inbox})
    log.info("fediverse: %s follows %s (%s)", host, ap.username(key), outcome)
    return 202, "followed"
