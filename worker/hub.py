"""Our own WebSub hub (`SYNDICATE_WEBSUB_HUB=on`, CONTRACT §8, W3C WebSub §5-§7): the work.

- `request` (called by api/hub.py, off the event loop): a validated (un)subscribe request for a
  topic we serve is recorded within the bounds (worker/store/subscriptions.py) and its
  verification queued. Nothing changes before verification.
- `verify` (task `hub_verify`): the verification of intent, a GET on the callback with the mode,
  topic, a random single-use challenge and the lease; only 2xx with exactly the challenge makes
  the request take effect. A GET that got no answer at all is tried again (HUB_VERIFY).
- `distribute` (the render that changed a feed's bytes calls it): one `hub_deliver` message per
  subscription of the feed, carrying only its id.
- `deliver` (task `hub_deliver`): under the subscription's lock, the feed's current bytes are
  read from the store (never fetched: no race with the render) and POSTed if the callback does
  not have them yet, signed `X-Hub-Signature: sha256=...` when it gave a secret. One delivery at
  a time per subscription, each with the newest bytes: an older body never follows a newer one.
  The intent is recorded before the POST, the result after. 2xx: delivered; 410: the
  subscription ends; anything else (or no answer) is retried with HUB_DELIVERY's backoff, which
  holds every delivery to that callback origin (scheme, host, port) until it ends, and is
  dead-lettered (`hubdelivery:<id>`) after its last attempt while the lease goes on.

Every request to a callback goes through worker/outbound.py (one parse, public addresses only
unless SYNDICATE_ALLOW_PRIVATE_ADDRESSES=on, timeouts, no redirects). Logs and stored errors
name a subscription by its id, host and topic, never by its callback URL (which may carry the
subscriber's token) and never with its secret.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from urllib.parse import unquote, urlencode

import requests

from feeds.describe import FORMATS
from feeds.membership import ALL, AUDIO, is_feed_key
from worker import enqueue, outbound
from worker.retry import HUB_DELIVERY, HUB_VERIFY
from worker.runtime import Runtime
from worker.store.dead import hub_delivery_letter, reason_of
from worker.store.rendered import etag_of

log = logging.getLogger("syndicate.hub")

LEASE_DEFAULT_S = 10 * 86400  # WebSub §8.2: "10 days is a good default"
LEASE_MIN_S = 3600
LEASE_MAX_S = 31 * 86400
SECRET_MAX_BYTES = 199  # §5.1: "less than 200 bytes"
ANSWER_MAX_BYTES = 64 * 1024  # what is read of a callback's answer
MAX_ROUNDS = 5  # deliveries in a row by one task while newer bytes keep arriving
MEDIA_TYPES = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
}


def hub_url(public_url: str) -> str:
    return f"{public_url.rstrip('/')}/hub"


def topic_feed(public_url: str, topic: str) -> tuple[str, str] | None:
    """(feed key, format) of a topic URL this hub serves (a feed's rel=self URL), else None."""
    prefix = f"{public_url.rstrip('/')}/feeds/"
    if not topic.startswith(prefix) or "?" in topic or "#" in topic:
        return None
    key, dot, fmt = unquote(topic[len(prefix) :]).rpartition(".")
    if not dot or fmt not in FORMATS or not is_feed_key(key):
        return None
    return key, fmt


@dataclass(frozen=True)
class Request:
    """A subscriber's request, validated at the edge (api/hub.py)."""

    mode: str  # subscribe | unsubscribe
    topic: str
    callback: str
    host: str  # the callback's host: what the per-host bound counts
    origin: str  # scheme://host:port: what a delivery backoff holds
    lease_s: int
    secret: str


def request(rt: Runtime, req: Request) -> tuple[int, str]:
    """Record `req` for verification and queue it: (HTTP status, plain-text answer)."""
    served = topic_feed(rt.site.public_url, req.topic)
    if served is None:
        return 400, 'hub.topic: not a feed of this hub (use the feed\'s rel="self" URL)'
    key, fmt = served
    if req.mode == "subscribe" and key not in (ALL, AUDIO) and not rt.store.articles.is_feed(key):
        return 404, "hub.topic: no such feed"
    s = rt.settings
    outcome, sid, rid = rt.store.subscriptions.request(
        mode=req.mode,
        topic=req.topic,
        feed=key,
        fmt=fmt,
        callback=req.callback,
        host=req.host,
        origin=req.origin,
        lease_s=req.lease_s,
        secret=req.secret,
        max_total=s.hub_max_subscriptions,
        max_per_host=s.hub_max_per_host,
    )
    if outcome == "total":
        return 429, "this hub takes no more subscriptions"
    if outcome == "host":
        return 429, "too many subscriptions for this callback host"
    enqueue.hub_verify(sid, rid)
    log.info(
        "hub: %s request for %s from %s (subscription %s)",
        req.mode,
        req.topic,
        req.host,
        sid,
        extra={"feed": key},
    )
    return 202, "accepted: verification of intent follows\n"


def _with_query(callback: str, params: dict[str, str]) -> str:
    """The callback with `params` appended to its own query (WebSub §5.3)."""
    sep = "" if callback.endswith(("?", "&")) else ("&" if "?" in callback else "?")
    return callback + sep + urlencode(params)


def verify(rt: Runtime, sid: str, rid: str, attempt: int = 1) -> str:
    """The verification of intent of one pending request (task `hub_verify`)."""
    subs = rt.store.subscriptions
    intent = subs.intent(sid, rid)
    if intent is None:
        return "superseded"
    challenge = secrets.token_urlsafe(32)
    params = {"hub.mode": intent["mode"], "hub.topic": intent["topic"], "hub.challenge": challenge}
    if intent["mode"] == "subscribe":
        params["hub.lease_seconds"] = intent["lease_s"]
    try:
        answer = outbound.fetch(
            _with_query(intent["callback"], params),
            allow_private=rt.settings.allow_private_addresses,
            max_bytes=ANSWER_MAX_BYTES,
            timeout=rt.settings.http_timeout,
        )
        ok = 200 <= answer.status_code < 300 and answer.content == challenge.encode()
        why = f"HTTP {answer.status_code}" + ("" if ok else ", not the challenge")
    except outbound.Refused as exc:
        ok, why = False, f"refused: {str(exc).split(':')[0]}"
    except requests.RequestException as exc:
        if not HUB_VERIFY.gives_up(attempt):
            rt.store.schedule.add(
                "hubverify",
                [sid, rid, attempt + 1],
                HUB_VERIFY.backoff_s(attempt, rt.settings.retry_base_s),
            )
            return "retry"
        ok, why = False, f"unreachable ({type(exc).__name__})"
    outcome = subs.finish(sid, rid, intent["feed"], ok, rt.settings.hub_max_subscriptions)
    log.info(
        "hub: %s of %s by %s: %s (%s)",
        intent["mode"],
        intent["topic"],
        intent["host"],
        outcome,
        why,
        extra={"feed": intent["feed"]},
    )
    return outcome


def distribute(rt: Runtime, feed_key: str) -> int:
    """The feed's bytes changed: one delivery message per subscription with a running lease
    (bounded by SYNDICATE_HUB_MAX_SUBSCRIPTIONS)."""
    sids = rt.store.subscriptions.of_feed(feed_key)
    for sid in sids:
        enqueue.hub_deliver(sid)
    return len(sids)


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver(rt: Runtime, sid: str) -> str:
    """Bring one subscriber up to date with its topic's current bytes (task `hub_deliver`)."""
    subs = rt.store.subscriptions
    sub = subs.get(sid)
    if sub is None:
        return "gone"
    now = time.time()
    if sub.expires_at <= now:
        subs.remove(sid, sub.feed, "expired", lease_ended_before=now)
        return "expired"
    held = subs.host_retry_at(sub.origin)
    if held > now + 0.05:  # its origin is failing: wait with the others there
        rt.store.schedule.add("hubdeliver", [sid], held - now)
        return "waiting"
    ttl = 2 * rt.settings.http_timeout + 10  # longer than any one POST may take
    delivered = False
    for _round in range(MAX_ROUNDS):
        token = subs.lock(sid, ttl)
        if token is None:  # another delivery is under way: it looks again once it is done
            return "delivered" if delivered else "busy"
        try:
            outcome = _deliver_once(rt, sid)
        finally:
            subs.unlock(sid, token)
        if outcome != "delivered":
            return "delivered" if delivered and outcome == "up to date" else outcome
        delivered = True  # and newer bytes may have come meanwhile: look again
    return "delivered"


def _deliver_once(rt: Runtime, sid: str) -> str:
    subs = rt.store.subscriptions
    sub = subs.get(sid)
    if sub is None:
        return "gone"
    body = rt.store.feeds.bodies(sub.feed).get(sub.fmt)
    if body is None:
        return "no bytes"
    etag = etag_of(body)
    if etag == sub.delivered_etag:
        return "up to date"
    headers = {
        "Content-Type": MEDIA_TYPES[sub.fmt],
        "Link": f'<{hub_url(rt.site.public_url)}>; rel="hub", <{sub.topic}>; rel="self"',
    }
    if sub.secret:
        headers["X-Hub-Signature"] = signature(sub.secret, body)
    subs.sending(sid, etag)  # the intent, before the call
    status, reason, _refused = outbound.deliver(
        sub.callback,
        data=body,
        headers=headers,
        allow_private=rt.settings.allow_private_addresses,
        max_bytes=ANSWER_MAX_BYTES,
        timeout=rt.settings.http_timeout,
    )
    if 200 <= status < 300:
        subs.delivered(sid, etag, sub.origin)
        log.info(
            "hub: delivered %s to %s (subscription %s)",
            sub.topic,
            sub.host,
            sid,
            extra={"feed": sub.feed},
        )
        return "delivered"
    if status == 410:
        subs.remove(sid, sub.feed, "gone")
        log.info(
            "hub: %s answered 410 for %s: subscription %s ended",
            sub.host,
            sub.topic,
            sid,
            extra={"feed": sub.feed},
        )
        return "gone"
    return _failed(rt, sid, sub.origin, sub.host, sub.topic, reason)


def _failed(rt: Runtime, sid: str, origin: str, host: str, topic: str, reason: str) -> str:
    """A failed delivery: the origin's deliveries wait its backoff; this one is retried then,
    or dead-lettered after its last attempt (a later change of the feed tries again)."""
    failures, origin_failures = rt.store.subscriptions.failed(sid, origin, reason)
    if failures == 0:
        return "gone"
    delay = HUB_DELIVERY.backoff_s(origin_failures, rt.settings.retry_base_s)
    rt.store.subscriptions.hold_host(origin, time.time() + delay)
    log.warning(
        "hub: delivery of %s to %s failed (%d): %s",
        topic,
        host,
        failures,
        reason,
        extra={"subscription": sid},
    )
    if HUB_DELIVERY.gives_up(failures):
        rt.store.dead.add(hub_delivery_letter(sid), reason_of(reason))
        return "dead"
    rt.store.schedule.add("hubdeliver", [sid], delay)
    return "retry"


def replay(rt: Runtime, sid: str) -> bool:
    """Fresh retries for a dead-lettered delivery (`syndicate replay`, the status page)."""
    sub = rt.store.subscriptions.get(sid)
    if sub is None:
        return False
    rt.store.subscriptions.reset(sid, sub.origin)
    enqueue.hub_deliver(sid)
    return True
