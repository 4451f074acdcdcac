"""The operator credential: only feeds, OPML, share links, `POST /events` (signed),
`POST /integrations/ghost` (signed by Ghost, api/ghost.py) and `/healthz` are public; everything
else needs `SYNDICATE_ADMIN_TOKEN`.

Two ways to present it, checked the same way on loopback as anywhere (a reverse proxy on the
same host makes every client loopback):
- `Authorization: Bearer <token>`, for scripts and Prometheus;
- a session cookie, after `POST /login` with the token (the page at `/login` has the form; the
  link `run` prints carries the token in the URL fragment, which browsers never send, and a
  small same-origin script fills the form from it). The cookie carries a random session id,
  signed with a key derived from the token (itsdangerous); it is HttpOnly, SameSite=Strict,
  `Secure` whenever the request came over https or SYNDICATE_PUBLIC_URL is https, and lasts 12
  hours. The session lives in Redis (worker/store/sessions.py) for as long: `POST /logout` (with
  the page's CSRF field) deletes it, and a cookie whose session is gone is refused. Changing the
  token logs everybody out.

Sign-ins are limited: after 10 failures in 5 minutes from one client address (as seen after the
trusted proxies, SYNDICATE_TRUSTED_PROXIES), or 100 from anywhere, `POST /login` answers 429 with
`Retry-After` until the window ends (the Bearer header keeps working).

HTML pages carry a strict Content-Security-Policy and framing, sniffing and referrer headers.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import redis
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request, cookie_parser
from starlette.responses import RedirectResponse, Response

from api.errors import problem
from api.headers import security_headers
from api.html import render_page
from api.intake import BodyTooLarge, read_limited
from worker.store.sessions import Sessions

COOKIE = "syndicate_session"
FORM_LIMIT = 4096  # the login and Retry forms are tiny
SESSION_S = 12 * 3600
LOGIN_WINDOW_S = 300
LOGIN_FAILURES_PER_ADDRESS = 10  # per window, from one client address
LOGIN_FAILURES_IN_ALL = 100  # per window, from everywhere
SESSION_STATE = "operator_session"  # request.state: the cookie's session, checked (SessionCheck)

Handler = Callable[[Request], Awaitable[Response]]


class OperatorAuth:
    def __init__(self, token: str) -> None:
        self._token = token.encode()
        key = hmac.new(self._token, b"syndicate session cookie", hashlib.sha256).hexdigest()
        self._cookies = URLSafeTimedSerializer(key, salt="operator")

    def token_matches(self, candidate: str) -> bool:
        return hmac.compare_digest(candidate.encode(), self._token)

    def allows(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value:
            return self.token_matches(value.strip())
        # A cookie counts only once SessionCheck found its session alive in Redis.
        return bool(request.scope.get("state", {}).get(SESSION_STATE))

    def session_id(self, cookie: str | None) -> str | None:
        """The session id a cookie carries, if we signed it within the session's life."""
        if not cookie:
            return None
        try:
            value = self._cookies.loads(cookie, max_age=SESSION_S)
        except BadSignature:
            return None
        return value if isinstance(value, str) and value.startswith("s:") else None

    def session_cookie(self, session_id: str) -> str:
        return self._cookies.dumps(session_id)

    def csrf_token(self) -> str:
        """The hidden field of the page's forms: only someone who can read the page has it."""
        return hmac.new(self._token, b"syndicate csrf", hashlib.sha256).hexdigest()

    def csrf_matches(self, candidate: str) -> bool:
        return hmac.compare_digest(candidate.encode(), self.csrf_token().encode())


class SessionCheck:
    """Pure ASGI: a request carrying the session cookie has its session looked up in Redis (in a
    worker thread) before any handler runs, and the answer kept in `request.state`, so that
    `OperatorAuth.allows` refuses a signed-out or expired session everywhere. Feed paths never
    need the operator, so they skip the lookup."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not scope.get("path", "").startswith("/feeds"):
            cookie = next((v for k, v in scope.get("headers", ()) if k == b"cookie"), None)
            if cookie is not None and COOKIE.encode() in cookie:
                state = scope.setdefault("state", {})
                app = scope["app"]
                session_id = app.state.auth.session_id(
                    cookie_parser(cookie.decode("latin-1")).get(COOKIE)
                )
                state[SESSION_STATE] = session_id is not None and await _session_alive(
                    app.state.sessions, session_id
                )
        await self.app(scope, receive, send)


async def _session_alive(sessions: Sessions, session_id: str) -> bool:
    try:
        return await run_in_threadpool(sessions.active, session_id.removeprefix("s:"))
    except redis.RedisError:
        return False  # cannot tell: not signed in


def operator_only(html: bool = False) -> Callable[[Handler], Handler]:
    """Decorate a handler: it runs only for the operator; others get 401 (a login page for
    HTML routes, problem JSON with `WWW-Authenticate: Bearer` otherwise)."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(request: Request) -> Response:
            if request.app.state.auth.allows(request):
                return await handler(request)
            if html:
                return RedirectResponse(
                    "/login?next=" + _safe_next(request.url.path),
                    status_code=303,
                    headers=security_headers(),
                )
            response = problem(
                401,
                "operator credential required",
                "send Authorization: Bearer <SYNDICATE_ADMIN_TOKEN>",
            )
            response.headers["WWW-Authenticate"] = 'Bearer realm="syndicate"'
            return response

        return guarded

    return wrap


def _safe_next(path: str) -> str:
    """A local path only: no open redirect through `next`."""
    return path if path.startswith("/") and not path.startswith("//") and "\\" not in path else "/"


LOGIN_SCRIPT = (
    b"// Fill the token from the login link's #token=... fragment, then sign in.\n"
    b"var m = /[#&]token=([^&]+)/.exec(location.hash);\n"
    b"if (m) { history.replaceState(null, '', location.pathname + location.search);\n"
    b"  document.getElementById('token').value = decodeURIComponent(m[1]);\n"
    b"  document.getElementById('login').submit(); }\n"
)


def _login_page(next_path: str, failed: bool, status: int = 200, wait: int = 0) -> Response:
    response = render_page(
        "login.html",
        status_code=status,
        title="syndicate: sign in",
        next_path=next_path,
        failed=failed,
        wait=wait,
        unavailable=status == 503,
    )
    if wait:
        response.headers["Retry-After"] = str(wait)
    return response


def client_address(request: Request) -> str:
    """The client as uvicorn saw it after the trusted proxies' X-Forwarded-For."""
    return request.client.host if request.client else "unknown"


def secure_cookies(request: Request) -> bool:
    public_url = request.app.state.runtime.settings.public_url or ""
    return request.url.scheme == "https" or public_url.startswith("https://")


async def login_form(request: Request) -> Response:
    return _login_page(_safe_next(request.query_params.get("next", "/")), failed=False)


async def login(request: Request) -> Response:
    auth: OperatorAuth = request.app.state.auth
    sessions: Sessions = request.app.state.sessions
    next_path = _safe_next(request.query_params.get("next", "/"))
    address = client_address(request)
    try:
        wait = await run_in_threadpool(
            sessions.login_blocked, address, LOGIN_FAILURES_PER_ADDRESS, LOGIN_FAILURES_IN_ALL
        )
    except redis.RedisError:  # the limits cannot be checked: nobody signs in until they can
        return _login_page(next_path, failed=False, status=503, wait=5)
    if wait:
        return _login_page(next_path, failed=False, status=429, wait=wait)
    try:  # bounded in size and time like every body we read (api.intake)
        body = await read_limited(
            request, FORM_LIMIT, request.app.state.runtime.settings.body_timeout
        )
    except (BodyTooLarge, TimeoutError):
        return _login_page(next_path, failed=True, status=400)

    token = (parse_qs(body.decode("utf-8", "replace")).get("token") or [""])[0]
    try:
        if not auth.token_matches(token):
            await run_in_threadpool(sessions.login_failed, address, LOGIN_WINDOW_S)
            return _login_page(next_path, failed=True, status=401)
        await run_in_threadpool(sessions.login_succeeded, address)
        session_id = await run_in_threadpool(sessions.start, SESSION_S)
    except redis.RedisError:
        return _login_page(next_path, failed=False, status=503, wait=5)
    response = RedirectResponse(next_path, status_code=303, headers=security_headers())
    response.set_cookie(
        COOKIE,
        auth.session_cookie("s:" + session_id),
        max_age=SESSION_S,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
        path="/",
    )
    return response


async def logout(request: Request) -> Response:
    """`POST /logout` with the status page's CSRF field: the session is deleted in Redis (its
    cookie is refused from then on, wherever it was copied) and the cookie cleared."""
    auth: OperatorAuth = request.app.state.auth
    try:
        body = await read_limited(
            request, FORM_LIMIT, request.app.state.runtime.settings.body_timeout
        )
    except (BodyTooLarge, TimeoutError):
        body = b""
    csrf = (parse_qs(body.decode("utf-8", "replace")).get("csrf") or [""])[0]
    if not auth.csrf_matches(csrf):
        return Response(
            "missing or wrong CSRF token\n",
            status_code=403,
            media_type="text/plain",
            headers=security_headers(),
        )
    session_id = auth.session_id(request.cookies.get(COOKIE))
    if session_id is not None:
        try:
            await run_in_threadpool(request.app.state.sessions.end, session_id.removeprefix("s:"))
        except redis.RedisError:
            return Response(
                "store unavailable: still signed in\n",
                status_code=503,
                media_type="text/plain",
                headers={**security_headers(), "Retry-After": "5"},
            )
    response = RedirectResponse("/login", status_code=303, headers=security_headers())
    response.delete_cookie(
        COOKIE, path="/", httponly=True, samesite="strict", secure=secure_cookies(request)
    )
    return response


async def login_script(request: Request) -> Response:
    return Response(
        LOGIN_SCRIPT,
        media_type="text/javascript; charset=utf-8",
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"},
    )
