"""Podping (https://podping.cloud): each change of the audio feed's bytes is announced once.

With SYNDICATE_PODPING_TOKEN set, a render that publishes new bytes of the audio feed
(worker/rendering.py) queues the `podping` task, which sends
`GET {SYNDICATE_PODPING_URL}/?url={the audio feed's RSS URL}&reason=update&medium=podcast` with
`Authorization: {token}` and syndicate's User-Agent, and the feed carries
`<podcast:podping usesPodping="true"/>`. What is announced is the RSS ETag: the task sends only
if those bytes were not announced yet (renders in quick succession make one notification; a
render that changed nothing makes none), recording the intent before the GET and the answer
after. 200 is done; 408, 429, 5xx and no answer are retried with the PODPING backoff, then
dead-lettered; 400 and 401 (a bad URL, token or User-Agent) are dead-lettered at once. The
token travels only in the header: never in the URL, the broker message or the store.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import requests

from feeds.describe import Site, feed_url
from feeds.membership import AUDIO
from worker import enqueue
from worker.http import RemoteSession
from worker.retry import PODPING
from worker.runtime import Runtime
from worker.store.dead import for_status, reason_of
from worker.store.podping import Podpings, letter

log = logging.getLogger("syndicate.podping")

TRANSIENT = (408, 429)


def site(rt: Runtime) -> Site:
    """The site as the renderer describes it: the audio feed says it uses Podping when on."""
    if not rt.settings.podping_token:
        return rt.site
    return replace(rt.site, podcast=replace(rt.site.podcast, podping=True))


def changed(rt: Runtime, feed_key: str) -> None:
    """A render published new bytes of `feed_key` (the renderer's hook)."""
    if feed_key == AUDIO and rt.settings.podping_token:
        enqueue.podping()


def _session(rt: Runtime) -> RemoteSession:
    return rt.hub_sessions.setdefault(
        "podping:" + rt.settings.podping_url, RemoteSession(rt.settings.http_timeout)
    )


def send(rt: Runtime) -> str:
    """The `podping` task: announce the audio feed's current RSS bytes unless already done."""
    settings = rt.settings
    if not settings.podping_token:
        return "off"
    etag = rt.store.feeds.etags(AUDIO, ["rss"])[0]
    store = Podpings(rt.redis, AUDIO)
    if etag is None or store.state().get("sent_etag") == etag:
        return "unchanged"
    if not store.lock(settings.http_timeout * 2 + 5):
        rt.store.schedule.add("podping", [], 1.0)  # the sender may be sending older bytes
        return "busy"
    try:
        return _get(rt, store, etag)
    finally:
        store.unlock()


def _get(rt: Runtime, store: Podpings, etag: str) -> str:
    settings = rt.settings
    attempt = store.sending(etag)  # the intent, before the call
    params = {
        "url": feed_url(rt.site.public_url, AUDIO, "rss"),
        "reason": "update",
        "medium": "podcast",
    }
    try:
        r = _session(rt).get(
            settings.podping_url.rstrip("/") + "/",
            params=params,
            headers={"Authorization": settings.podping_token},
            allow_redirects=False,
        )  # the token goes to no other host
    except requests.RequestException as exc:
        return _retry(rt, store, attempt, None, f"unreachable: {type(exc).__name__}")
    if r.status_code == 200:
        store.sent(etag, r.status_code)
        log.info("podping sent for the audio feed (%s)", etag)
        return "sent"
    reason = f"HTTP {r.status_code}: {r.text[:200]}"
    if r.status_code in TRANSIENT or r.status_code >= 500:
        return _retry(rt, store, attempt, r.status_code, reason)
    store.failed(r.status_code, reason)
    store.reset_attempts()  # refused: the next change starts afresh
    rt.store.dead.add(letter(AUDIO), for_status(r.status_code))
    log.warning("podping refused: %s", reason)
    return "refused"


def _retry(rt: Runtime, store: Podpings, attempt: int, status: int | None, reason: str) -> str:
    store.failed(status, reason)
    if PODPING.gives_up(attempt):
        store.reset_attempts()
        rt.store.dead.add(letter(AUDIO), for_status(status) if status else reason_of(reason))
        log.warning("podping given up after %d attempts: %s", attempt, reason)
        return "failed"
    rt.store.schedule.add("podping", [], PODPING.backoff_s(attempt, rt.settings.retry_base_s))
    log.warning("podping: %s; retrying", reason)
    return "retry"


# Operator commands ----------------------------------------------------------------------------
def last_error(rt: Runtime) -> str:
    return Podpings(rt.redis, AUDIO).state().get("last_error") or ""


def replay(rt: Runtime) -> bool:
    Podpings(rt.redis, AUDIO).reset_attempts()
    enqueue.podping()
    return True


def check(rt: Runtime) -> tuple[str, bool | None, str]:
    if not rt.settings.podping_token:
        return "podping", None, "off (SYNDICATE_PODPING_TOKEN not set)"
    try:
        state = Podpings(rt.redis, AUDIO).state() if rt.settings.redis_url else {}
    except Exception:  # noqa: BLE001 - Redis is checked (and reported) on its own
        state = {}
    if state.get("last_error") and state.get("last_status") != "200":
        return "podping", False, f"the last notification failed: {state['last_error']}"
    return "podping", True, f"on: the audio feed's changes go to {rt.settings.podping_url}"
