"""W3C Trace Context (`traceparent`) carried from intake to every task and post, so one trace id
ties the CMS's request, the worker's log lines and the calls to the networks together (an
OpenTelemetry collector joins them; no SDK needed to carry the header)."""

from __future__ import annotations

import re
import secrets

_HEADER = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def accept(header: str | None) -> str:
    """The incoming `traceparent` if valid (a new span of it), else a new trace."""
    match = _HEADER.match((header or "").strip().lower())
    if match and match.group(1) != "0" * 32 and match.group(2) != "0" * 16:
        return child(match.group(0))
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


def child(header: str) -> str:
    """A new span in the same trace (what an outbound call sends)."""
    match = _HEADER.match(header or "")
    if not match:
        return accept(None)
    return f"00-{match.group(1)}-{secrets.token_hex(8)}-{match.group(3)}"


def trace_id(header: str | None) -> str:
    match = _HEADER.match(header or "")
    return match.group(1) if match else ""
