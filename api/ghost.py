"""`POST /integrations/ghost`: the webhooks of a Ghost custom integration, verified, mapped to our
event (feeds/ghost.py) and handed to the same intake as `POST /events` (api/intake.py `accept`).

Off (404) until SYNDICATE_GHOST_WEBHOOK_SECRET is set. Checks, cheapest first: size (413, 1 MiB),
media type (415), `X-Ghost-Signature` (401), JSON (400), Ghost's shape (422), our schema (422,
fields named as Ghost names them). Nothing is stored unless all of them pass.

The signature (Ghost's `webhook-trigger.js`): `sha256=<hex HMAC-SHA256 of body + t>, t=<ms>`,
the key being the webhook's secret as UTF-8 and the message the raw body bytes followed by the
decimal `t`, no separator. Ghost sends no other replay protection, so `t` is bounded here:
at most `SKEW_S` (5 minutes, as Standard Webhooks on `POST /events`) either way. Ghost computes `t`
once per delivery and resends the same header on each of its (at most 5) retries, which all end
within a minute; a replay inside the window is a duplicate of the delivery it copies.

Ghost waits 2 s for an answer and deletes a webhook answered with `410`, so this handler never
answers 410 and does no more than `POST /events` does: record and enqueue.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time

from starlette.requests import Request
from starlette.responses import JSONResponse

from api.errors import problem
from api.intake import accept, read_json_body
from feeds.ghost import GhostPayloadError, signed_time, to_event
from feeds.validation import LIMITS, depth_exceeds

SKEW_S = 300
_SIGNATURE = re.compile(r"^\s*sha256=([0-9a-fA-F]{64})\s*,\s*t=(\d{1,15})\s*$")


def verify(secret: str, body: bytes, header: str | None, now: float | None = None) -> int:
    """The signature's `t` (ms) if `header` signs `body` with `secret` within the skew;
    ValueError saying why not (never anything about the secret)."""
    if not header:
        raise ValueError("X-Ghost-Signature is missing: set the webhook's secret in Ghost")
    match = _SIGNATURE.match(header)
    if not match:
        raise ValueError("X-Ghost-Signature must read sha256=<64 hex digits>, t=<milliseconds>")
    given, t = match.group(1).lower(), match.group(2)
    expected = hmac.new(secret.encode(), body + t.encode("ascii"), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(given, expected):
        raise ValueError("X-Ghost-Signature does not match the body and secret")
    skew = abs((time.time() if now is None else now) - int(t) / 1000)
    if skew > SKEW_S:
        raise ValueError(f"X-Ghost-Signature t is {skew:.0f} s away from now; at most {SKEW_S} s")
    return int(t)


async def post_ghost(request: Request) -> JSONResponse:
    metrics = request.app.state.metrics
    with metrics.intake_seconds.time():
        return await _post_ghost(request)


async def _post_ghost(request: Request) -> JSONResponse:
    settings = request.app.state.runtime.settings
    secret = settings.ghost_webhook_secret
    if not secret:
        return problem(
            404,
            "not found",
            "the Ghost integration is off (SYNDICATE_GHOST_WEBHOOK_SECRET is not set)",
        )
    body = await read_json_body(request, settings.body_timeout)
    if isinstance(body, JSONResponse):
        return body
    try:
        t_ms = verify(secret, body, request.headers.get("x-ghost-signature"))
    except ValueError as exc:
        request.app.state.metrics.events.labels(type="unknown", outcome="unauthorized").inc()
        return problem(401, "invalid signature", str(exc))
    try:
        parsed = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        return problem(400, "invalid JSON", str(exc)[:300])
    if depth_exceeds(parsed, LIMITS["depth"]):
        return problem(400, "invalid JSON", f"nested deeper than {LIMITS['depth']} levels")
    try:
        delivery = to_event(parsed, signed_time(t_ms))
    except GhostPayloadError as exc:
        return JSONResponse(
            {
                "title": "not a Ghost post webhook syndicate accepts",
                "status": 422,
                "errors": [e.as_dict() for e in exc.errors],
            },
            status_code=422,
        )
    return await accept(
        request,
        delivery.webhook_id,
        delivery.payload,
        json.dumps(delivery.payload, ensure_ascii=False),
        rename=delivery.named_in_ghost,
    )
