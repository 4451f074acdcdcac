"""`POST /hub`: our own WebSub hub's subscribe and unsubscribe requests (W3C WebSub §5.1).

The form is read bounded in bytes and time and validated here; a valid request for a topic we
serve is recorded and answered 202, and its verification of intent runs as Celery work
(worker/hub.py), never on the event loop. Any other answer is a 4xx with a plain-text reason and
records nothing. The answer never depends on the verification's outcome. Off (404) unless
SYNDICATE_WEBSUB_HUB=on.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import parse_qs

import redis
from kombu.exceptions import OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from api.intake import BodyTooLarge, read_limited
from worker import hub, outbound
from worker.runtime import Runtime

FORM_MAX_BYTES = 8192  # callback and topic URLs (2 KB each), a secret under 200 bytes, the rest
MAX_FIELDS = 32
LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


def _text(status: int, message: str) -> Response:
    return PlainTextResponse(
        message if message.endswith("\n") else message + "\n",
        status_code=status,
        headers={"X-Content-Type-Options": "nosniff"},
    )


def callback_problem(callback: str, allow_private: bool) -> str | tuple[str, str]:
    """(host, origin) of an acceptable callback URL, or why it is not: http(s), a host, no
    credentials, no fragment, and (unless `allow_private`) not a loopback, private or
    link-local address or name. Names are resolved, and every address checked again, when the
    callback is called (worker/outbound.py)."""
    if "#" in callback:
        return "hub.callback: must not have a fragment"
    try:
        scheme, host, port = outbound.origin(callback)
    except outbound.Refused as exc:
        return f"hub.callback: {str(exc).removeprefix('URL ')}"
    bare = host.strip("[]").rstrip(".")
    if not allow_private:
        if bare in LOCAL_NAMES or bare.endswith((".localhost", ".local", ".internal")):
            return "hub.callback: must not be a local name"
        address = _literal_address(bare)
        if address is not None and not outbound.is_public(address):
            return "hub.callback: must not be a loopback, private or link-local address"
    return bare, f"{scheme}://{host}:{port}"


def _literal_address(host: str) -> outbound.IPAddress | None:
    """The address a host written as a number stands for: `::1`, `127.0.0.1`, and the forms
    the resolver also reads as IPv4 (`127.1`, `0x7f000001`, `2130706433`)."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def _one(form: dict[str, list[str]], name: str) -> str | None:
    values = form.get(name)
    if values is None:
        return None
    return values[0] if len(values) == 1 else ""


def parse(raw: bytes, allow_private: bool) -> hub.Request | str:
    """The request in a form body, or what is wrong with it (unknown fields are ignored)."""
    try:
        text = raw.decode("utf-8")
        form = parse_qs(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError):
        return "the body must be a UTF-8 form (application/x-www-form-urlencoded)"
    mode, topic, callback = (_one(form, f"hub.{n}") for n in ("mode", "topic", "callback"))
    if mode not in ("subscribe", "unsubscribe"):
        return "hub.mode: must be subscribe or unsubscribe (this hub takes no publish pings)"
    if not topic or not callback:
        return "hub.topic and hub.callback are required, once each"
    checked = callback_problem(callback, allow_private)
    if isinstance(checked, str):
        return checked
    lease = _one(form, "hub.lease_seconds")
    lease_s = hub.LEASE_DEFAULT_S
    if lease:
        if not (lease.isascii() and lease.isdigit() and len(lease) <= 12 and int(lease) > 0):
            return "hub.lease_seconds: must be a positive whole number"
        lease_s = min(max(int(lease), hub.LEASE_MIN_S), hub.LEASE_MAX_S)
    secret = _one(form, "hub.secret") or ""
    if len(secret.encode()) > hub.SECRET_MAX_BYTES:
        return f"hub.secret: must be under {hub.SECRET_MAX_BYTES + 1} bytes"
    host, origin = checked
    return hub.Request(
        mode, topic, callback, host, origin, lease_s, secret if mode == "subscribe" else ""
    )


async def post_hub(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    if not rt.settings.websub_hub:
        return _text(404, "no hub here (SYNDICATE_WEBSUB_HUB is off)")
    mime = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if mime != "application/x-www-form-urlencoded":
        return _text(415, "the body must be application/x-www-form-urlencoded")
    try:
        raw = await read_limited(request, FORM_MAX_BYTES, rt.settings.body_timeout)
    except BodyTooLarge:
        return _text(413, f"the form is longer than {FORM_MAX_BYTES} bytes")
    except TimeoutError:
        return _text(408, "the form took too long to arrive")
    parsed = parse(raw, rt.settings.allow_private_addresses)
    if isinstance(parsed, str):
        return _text(400, parsed)
    try:
        status, message = await run_in_threadpool(hub.request, rt, parsed)
    except (redis.RedisError, OperationalError):
        return _text(503, "store or broker unavailable: try again later")
    return _text(status, message)
