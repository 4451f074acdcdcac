"""`POST /events`: verify, validate, record, enqueue. Nothing is changed unless all of it works.

Checks run cheapest-and-most-fundamental first: size (413), media type (415), signature (401),
JSON (400), schema (422). An event is answered 202 only once it is stored in Redis and queued for the appliers, which is one
step (worker/store/events.py `accept`); if Redis is away, nothing is stored and the CMS gets a 503
to retry.
Everything after the signature (`accept`) is shared with `POST /integrations/ghost` (api/ghost.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from standardwebhooks.webhooks import WebhookVerificationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from api.errors import problem
from feeds.validation import LIMITS, FieldError, depth_exceeds, validate_event
from worker import trace
from worker.runtime import Runtime

log = logging.getLogger("syndicate.api")

MAX_BODY = 1024 * 1024
MAX_EVENT_ID = 200


class BodyTooLarge(Exception):
    pass


async def read_limited(request: Request, limit: int, timeout_s: float) -> bytes:
    """The body, refused past `limit` bytes or `timeout_s` seconds (a slow sender holds a
    connection and a coroutine for as long as it likes otherwise)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise BodyTooLarge
        except ValueError:
            pass
    chunks: list[bytes] = []
    size = 0
    async with asyncio.timeout(timeout_s):
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge
            chunks.append(chunk)
    return b"".join(chunks)


def is_json(content_type: str) -> bool:
    mime = content_type.split(";", 1)[0].strip().lower()
    return mime == "application/json" or (
        mime.startswith("application/") and mime.endswith("+json")
    )


async def read_json_body(request: Request, timeout_s: float) -> bytes | JSONResponse:
    """The body of a webhook (ours or a CMS's own), bounded in bytes and time, as JSON: the
    bytes, or the problem to answer (413, 408, 415)."""
    try:
        body = await read_limited(request, MAX_BODY, timeout_s)
    except BodyTooLarge:
        return problem(413, "body too large", f"the limit is {MAX_BODY} bytes")
    except TimeoutError:
        return problem(408, "request timeout", f"the body did not arrive within {timeout_s:g} s")
    if not is_json(request.headers.get("content-type", "")):
        return problem(415, "unsupported media type", "send Content-Type: application/json")
    return body


async def post_event(request: Request) -> JSONResponse:
    with request.app.state.metrics.intake_seconds.time():
        return await _post_event(request)


async def _post_event(request: Request) -> JSONResponse:
    rt: Runtime = request.app.state.runtime
    metrics = request.app.state.metrics
    body = await read_json_body(request, rt.settings.body_timeout)
    if isinstance(body, JSONResponse):
        return body
    event_id = request.headers.get("webhook-id", "")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return problem(400, "invalid body", "the body is not UTF-8")
    try:
        request.app.state.webhook.verify(text, dict(request.headers), json_parse=False)
    except (WebhookVerificationError, ValueError, TypeError, IndexError) as exc:
        metrics.events.labels(type="unknown", outcome="unauthorized").inc()
        return problem(401, "invalid signature", str(exc) or "signature verification failed")
    if not event_id or len(event_id) > MAX_EVENT_ID or not event_id.isprintable():
        return problem(400, "invalid webhook-id", f"1 to {MAX_EVENT_ID} printable characters")
    try:
        payload = json.loads(text)
    except ValueError as exc:
        return problem(400, "invalid JSON", str(exc))
    except RecursionError:
        return problem(400, "invalid JSON", f"nested deeper than {LIMITS['depth']} levels")
    if depth_exceeds(payload, LIMITS["depth"]):
        return problem(400, "invalid JSON", f"nested deeper than {LIMITS['depth']} levels")
    return await accept(request, event_id, payload, text)


async def accept(
    request: Request,
    event_id: str,
    payload: Any,
    text: str,
    rename: Callable[[list[FieldError]], list[FieldError]] | None = None,
) -> JSONResponse:
    """After the signature, for `POST /events` and `POST /integrations/ghost` alike: validate
    (422, every field named; `rename` names them as the sender does), then record once and
    enqueue (202, 200 duplicate, 503). `text` is the event as stored for the worker."""
    metrics = request.app.state.metrics
    errors = validate_event(payload)
    if errors:
        metrics.events.labels(type=_type_of(payload), outcome="invalid").inc()
        return JSONResponse(
            {
                "title": "event does not match the schema",
                "status": 422,
                "errors": [e.as_dict() for e in (rename(errors) if rename else errors)],
            },
            status_code=422,
        )
    traceparent = trace.accept(request.headers.get("traceparent"))
    return await run_in_threadpool(
        _enqueue, request.app.state.runtime, metrics, event_id, payload, text, traceparent
    )


def _type_of(payload: Any) -> str:
    kind = payload.get("type") if isinstance(payload, dict) else None
    return (
        kind
        if kind in ("article.published", "article.updated", "article.unpublished")
        else "unknown"
    )


class BrokerWatch:
    """Whether a separate broker (SYNDICATE_BROKER_URL) answers, asked at most once a second.
    Events are queued in Redis, but what they cause (deliveries, pings) goes through the
    broker: with it down, intake answers 503 as the contract says, so the CMS keeps the event
    and nothing is half-done. With the broker on the same Redis, `accept` is the test."""

    def __init__(self, every_s: float = 1.0) -> None:
        self.every_s = every_s
        self._checked = 0.0
        self._ok = True
        self._lock = threading.Lock()

    def ok(self, rt: Runtime) -> bool:
        """The last answer; one request a second asks again, the others never wait for it."""
        if rt.settings.broker_url is None:
            return True
        if time.monotonic() - self._checked >= self.every_s and self._lock.acquire(blocking=False):
            try:
                from worker.celery_app import broker_error

                self._ok = broker_error(timeout_s=1) == ""
                self._checked = time.monotonic()
            finally:
                self._lock.release()
        return self._ok


BROKER = BrokerWatch()


def _enqueue(
    rt: Runtime, metrics: Any, event_id: str, payload: dict, text: str, traceparent: str
) -> JSONResponse:
    kind = payload["type"]
    if not BROKER.ok(rt):
        log.warning("event %s refused, broker unavailable", event_id)
        return problem(503, "queue unavailable", "the broker is unreachable; retry later")
    try:
        fresh = rt.store.events.accept(event_id, kind, payload["article"]["id"], text, traceparent)
    except redis.RedisError as exc:
        log.warning("event %s refused, Redis unavailable: %s", event_id, exc)
        return problem(503, "store unavailable", "Redis is unreachable; retry later")
    if not fresh:
        metrics.events.labels(type=kind, outcome="duplicate").inc()
        return JSONResponse({"event_id": event_id, "status": "duplicate"}, status_code=200)
    metrics.events.labels(type=kind, outcome="accepted").inc()
    log.info(
        "event %s accepted (%s %s)",
        event_id,
        kind,
        payload["article"]["id"],
        extra={
            "event_id": event_id,
            "article_id": payload["article"]["id"],
            "trace_id": trace.trace_id(traceparent),
        },
    )
    return JSONResponse(
        {"event_id": event_id, "status": "queued"},
        status_code=202,
        headers={"traceparent": traceparent},
    )
