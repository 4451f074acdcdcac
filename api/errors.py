"""Error answers in one shape (RFC 9457 problem details)."""

from starlette.responses import JSONResponse


def problem(status: int, title: str, detail: str = "") -> JSONResponse:
    return JSONResponse(
        {"title": title, "status": status, "detail": detail},
        status_code=status,
        media_type="application/problem+json",
    )
