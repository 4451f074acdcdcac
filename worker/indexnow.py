"""IndexNow (https://www.indexnow.org/documentation): the article URLs that were published,
changed or unpublished, submitted in batches to SYNDICATE_INDEXNOW_ENDPOINT.

- The event task queues the article's URL once its event is applied (`article_changed`);
  backfill applies events without the task, so archives are never submitted.
- The first URL of a batch schedules the flush SYNDICATE_INDEXNOW_WINDOW_MS later (the Redis
  schedule, task `indexnow`); every URL queued meanwhile rides along (worker/store/indexnow.py).
- The flush takes up to 10,000 URLs of one host as a batch and POSTs
  `{"host", "key", "keyLocation", "urlList"}` (JSON, UTF-8); more pending: another flush at once.
- 200 and 202 (key validation pending) end the batch. 408, 429 (its Retry-After honoured), 5xx
  and no answer are retried with the INDEXNOW backoff, then dead-lettered; any other answer
  (400, 403 key not valid, 422 URL or key mismatch) is permanent: recorded and dead-lettered.
- `keyLocation`: SYNDICATE_INDEXNOW_KEY_LOCATION (default `{SITE_URL}/{key}.txt`) for URLs on
  its host; a URL on another host names `{scheme}://{host}/{key}.txt` (a key location must be on
  the host it vouches for).
The endpoint is the operator's setting, not outside input: no outbound guard. `check` fetches
the key location (a timeout, no redirect followed) and says whether it serves the key.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from feeds.article import ArticleEvent
from worker import enqueue
from worker.http import RemoteSession
from worker.retry import INDEXNOW, LONGEST_WAIT_S
from worker.runtime import Runtime
from worker.store import Applied
from worker.store.dead import Reason, for_status, reason_of
from worker.store.indexnow import IndexNowQueue, letter

log = logging.getLogger("syndicate.indexnow")

MEDIA_TYPE = "application/json; charset=utf-8"
SUCCESS = (200, 202)
TRANSIENT = (408, 429)
FLAG_GRACE_MS = 300_000  # a flush scheduled but lost is scheduled again after this
KEY_FILE_MAX_BYTES = 1_024
_HOST = re.compile(r"[A-Za-z0-9.\-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


def key_location(settings: Any) -> str:
    return settings.indexnow_key_location or f"{settings.site_url}/{settings.indexnow_key}.txt"


def host_of(url: str) -> str | None:
    """The host (and port, if any) a URL is submitted under; None if it cannot be."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    netloc = parts.netloc.rpartition("@")[2].lower()
    if (
        parts.scheme not in ("http", "https")
        or not _HOST.fullmatch(netloc)
        or any(c.isspace() for c in url)
        or len(url) > 2_048
    ):
        return None
    return netloc


def article_changed(rt: Runtime, event: ArticleEvent, applied: Applied) -> None:
    """After an applied event: queue its article's URL (what the event task calls)."""
    if not rt.settings.indexnow_key or applied.outcome != "applied":
        return
    if applied.state != "published" and not applied.unpublished:
        return  # an unpublish of an article that was never live: nothing to announce
    url = (
        event.article.url if event.article is not None else rt.store.articles.url(event.article_id)
    )
    queue_urls(rt, [url] if url else [])


def queue_urls(rt: Runtime, urls: list[str]) -> None:
    pairs = [(host, url) for url in urls if (host := host_of(url)) is not None]
    if len(pairs) < len(urls):
        log.warning("IndexNow: %d URL(s) that cannot be submitted left out", len(urls) - len(pairs))
    window_ms = rt.settings.indexnow_window_ms
    if IndexNowQueue(rt.redis).queue(pairs, window_ms + FLAG_GRACE_MS):
        rt.store.schedule.add("indexnow", [""], window_ms / 1000)


def run(rt: Runtime, batch_id: str = "") -> str:
    """The `indexnow` task: with no batch, take one from the pending URLs (the flush); then
    submit it. A failure is scheduled again with the batch's id."""
    if not rt.settings.indexnow_key:
        return "off"
    queue = IndexNowQueue(rt.redis)
    if not batch_id:
        claimed = queue.claim()
        if claimed is None:
            return "empty"
        batch_id, _, left = claimed
        if left:
            rt.store.schedule.add("indexnow", [""], 0)
    try:
        return submit(rt, queue, batch_id)
    except Exception as exc:  # Redis away mid-way: the batch is kept, tried again later
        log.warning("IndexNow batch %s: %s: %s; trying again", batch_id, type(exc).__name__, exc)
        rt.store.schedule.add("indexnow", [batch_id], rt.settings.retry_base_s)
        return "retry"


def _session(rt: Runtime) -> RemoteSession:
    return rt.hub_sessions.setdefault(
        "indexnow:" + rt.settings.indexnow_endpoint, RemoteSession(rt.settings.http_timeout)
    )


def submit(rt: Runtime, queue: IndexNowQueue, batch_id: str) -> str:
    batch = queue.batch(batch_id)
    if batch is None or batch.get("state") == "failed":
        return "gone"
    if not queue.lock(batch_id, rt.settings.http_timeout * 2 + 5):
        return "busy"  # another worker is submitting it
    try:
        return _post(rt, queue, batch_id, batch)
    finally:
        queue.unlock(batch_id)


def _post(rt: Runtime, queue: IndexNowQueue, batch_id: str, batch: dict[str, Any]) -> str:
    settings = rt.settings
    host, urls = batch["host"], batch["urls"]
    location = key_location(settings)
    if host_of(location) != host:
        location = f"{urlsplit(urls[0]).scheme}://{host}/{settings.indexnow_key}.txt"
    body = {"host": host, "key": settings.indexnow_key, "keyLocation": location, "urlList": urls}
    attempt = queue.attempting(batch_id)  # the intent, before the call
    try:
        r = _session(rt).post(
            settings.indexnow_endpoint,
            data=json.dumps(body).encode(),
            headers={"Content-Type": MEDIA_TYPE},
        )
    except requests.RequestException as exc:
        return _retry(rt, queue, batch_id, attempt, None, f"unreachable: {type(exc).__name__}")
    if r.status_code in SUCCESS:
        queue.submitted(batch_id, r.status_code, len(urls))
        log.info("IndexNow took %d URL(s) of %s (HTTP %d)", len(urls), host, r.status_code)
        return "submitted"
    reason = f"HTTP {r.status_code}: {r.text[:200]}"
    if r.status_code in TRANSIENT or r.status_code >= 500:
        return _retry(
            rt,
            queue,
            batch_id,
            attempt,
            r.status_code,
            reason,
            _retry_after(r.headers.get("retry-after")),
        )
    queue.failed(batch_id, r.status_code, reason, final=True)
    rt.store.dead.add(
        letter(batch_id), Reason.AUTH if r.status_code == 403 else for_status(r.status_code)
    )
    log.warning("IndexNow refused %d URL(s) of %s: %s", len(urls), host, reason)
    return "refused"


def _retry(
    rt: Runtime,
    queue: IndexNowQueue,
    batch_id: str,
    attempt: int,
    status: int | None,
    reason: str,
    wait_s: float = 0.0,
) -> str:
    final = INDEXNOW.gives_up(attempt)
    queue.failed(batch_id, status, reason, final=final)
    if final:
        rt.store.dead.add(letter(batch_id), for_status(status) if status else reason_of(reason))
        log.warning("IndexNow batch %s given up: %s", batch_id, reason)
        return "failed"
    delay = max(INDEXNOW.backoff_s(attempt, rt.settings.retry_base_s), wait_s)
    rt.store.schedule.add("indexnow", [batch_id], min(delay, LONGEST_WAIT_S))
    log.warning("IndexNow batch %s: %s; retrying in %.1f s", batch_id, reason, delay)
    return "retry"


def _retry_after(value: str | None) -> float:
    if not value:
        return 0.0
    if value.strip().isdigit():
        return float(value.strip())
    try:
        return max((parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds(), 0.0)
    except (TypeError, ValueError):
        return 0.0


# Operator commands ----------------------------------------------------------------------------
def last_error(rt: Runtime, batch_id: str) -> str:
    batch = IndexNowQueue(rt.redis).batch(batch_id)
    return (batch or {}).get("last_error") or "the batch is gone (expired)"


def replay(rt: Runtime, batch_id: str) -> bool:
    if not IndexNowQueue(rt.redis).reopen(batch_id):
        return False
    enqueue.indexnow(batch_id)
    return True


def check(rt: Runtime) -> tuple[str, bool | None, str]:
    """(name, ok, detail) for `syndicate check`: is the key file served at the key location?"""
    settings = rt.settings
    if not settings.indexnow_key:
        return "indexnow", None, "off (SYNDICATE_INDEXNOW_KEY not set)"
    location = key_location(settings)
    try:
        with RemoteSession(settings.http_timeout).get(
            location, stream=True, allow_redirects=False
        ) as r:
            text = r.raw.read(KEY_FILE_MAX_BYTES + 1, decode_content=True)
            status, moved = r.status_code, r.headers.get("location", "")
    except requests.RequestException as exc:
        return "indexnow", False, f"key file {location} unreachable: {type(exc).__name__}"
    if 300 <= status < 400:
        return (
            "indexnow",
            False,
            (
                f"key file {location} redirects (to {moved[:200]}): serve it "
                "at the key location itself"
            ),
        )
    if status != 200:
        return "indexnow", False, f"key file {location} answers HTTP {status}"
    if text.decode("utf-8", "replace").strip() != settings.indexnow_key:
        return "indexnow", False, f"key file {location} does not hold the key"
    return "indexnow", True, f"key file served at {location}; endpoint {settings.indexnow_endpoint}"
