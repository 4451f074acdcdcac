"""What the public feed answers share (api/serving.py, api/catalogue.py, api/feedpage.py): the
cache policy, `nosniff`, the plain-text refusals, strong-ETag matching and the `?page=` rule."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

CACHE_CONTROL = "public, max-age=60"
NOSNIFF = {"X-Content-Type-Options": "nosniff"}
UNAVAILABLE = Response(
    "store unavailable\n",
    status_code=503,
    media_type="text/plain",
    headers={"Retry-After": "5", **NOSNIFF},
)
PAGE_MAX_DIGITS = 6


def text(message: str, status_code: int) -> Response:
    return Response(
        message + "\n", status_code=status_code, media_type="text/plain", headers=NOSNIFF
    )


def etag_matches(request: Request, etag: str) -> bool:
    """If-None-Match names this strong ETag (or `*`); a weak form of it counts too."""
    inm = request.headers.get("if-none-match")
    if inm is None:
        return False
    return bool({"*", etag} & {t.strip().removeprefix("W/") for t in inm.split(",")})


def page_number(raw: str | None) -> int | None:
    """`?page=`: absent is the first page; anything but a whole number from 1 is None (400)."""
    if raw is None:
        return 1
    ok = raw.isascii() and raw.isdigit() and raw[0] != "0" and len(raw) <= PAGE_MAX_DIGITS
    return int(raw) if ok else None


BAD_PAGE = "page must be a whole number from 1"
