"""Security headers of every HTML page: no script but our own files, no framing, no sniffing,
no referrer; the one inline stylesheet allowed by its hash."""

from __future__ import annotations

import base64
import hashlib


def style_hash(css: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(css.encode()).digest()).decode() + "'"


def security_headers(style_sources: str = "") -> dict[str, str]:
    """Headers for every HTML page: no script but our own file, no framing, no sniffing."""
    csp = (
        "default-src 'none'; script-src 'self'; img-src 'self' https: data:; "
        "media-src 'self' https:; "
        f"style-src 'self' {style_sources}; form-action 'self'; base-uri 'none'; "
        "frame-ancestors 'none'"
    )
    return {
        "Content-Security-Policy": " ".join(csp.split()),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }
