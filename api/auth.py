"""The operator credential: only feeds, OPML, share links, `POST /events` (signed) and
`/healthz` are public; everything else needs `SYNDICATE_ADMIN_TOKEN`.

Two ways to present it, checked the same way on loopback as anywhere (a reverse proxy on the
same host makes every client loopback):
- `Authorization: Bearer <token>`, for scripts and Prometheus;
- a session cookie, after `POST /login` with the token (the page at `/login` has the form; the
  link `run` prints carries the token in the URL fragment, which browsers never send, and a
  small same-origin script fills the form from it). The cookie is signed with a key derived
  from the token (itsdangerous), HttpOnly, SameSite=Strict, and lasts 12 hours; changing the
  token logs everybody out.

HTML pages carry a strict Content-Security-Policy and framing, sniffing and referrer headers.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from api.errors import problem
from api.headers import security_headers
from api.html import render_page
from api.intake import BodyTooLarge, read_limited

COOKIE = "syndicate_session"
FORM_LIMIT = 4096  # the login and Retry forms are tiny
SESSION_S = 12 * 3600

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
        cookie = request.cookies.get(COOKIE)
        if not cookie:
            return False
        try:
            return self._cookies.loads(cookie, max_age=SESSION_S) == "operator"
        except BadSignature:
            return False

    def session_cookie(self) -> str:
        return self._cookies.dumps("operator")

    def csrf_token(self) -> str:
        """The hidden field of the page's forms: only someone who can read the page has it."""
        return hmac.new(self._token, b"syndicate csrf", hashlib.sha256).hexdigest()

    def csrf_matches(self, candidate: str) -> bool:
        return hmac.compare_digest(candidate.encode(), self.csrf_token().encode())


def operator_only(html: bool = False) -> Callable[[Handler], Handler]:
    """Decorate a handler: it runs only for the operator; others get 401 (a login page for
    HTML routes, problem JSON with `WWW-Authenticate: Bearer` otherwise)."""
    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(request: Request) -> Response:
            if request.app.state.auth.allows(request):
                return await handler(request)
            if html:
                return RedirectResponse("/login?next=" + _safe_next(request.url.path),
                                        status_code=303, headers=security_headers())
            response = problem(401, "operator credential required",
                               "send Authorization: Bearer <SYNDICATE_ADMIN_TOKEN>")
            response.headers["WWW-Authenticate"] = 'Bearer realm="syndicate"'
            return response
        return guarded
    return wrap


def _safe_next(path: str) -> str:
    """A local path only: no open redirect through `next`."""
    return path if path.startswith("/") and not path.startswith("//") and "\\" not in path else "/"


LOGIN_SCRIPT = (b"// Fill the token from the login link's #token=... fragment, then sign in.\n"
                b"var m = /[#&]token=([^&]+)/.exec(location.hash);\n"
                b"if (m) { history.replaceState(null, '', location.pathname + location.search);\n"
                b"  document.getElementById('token').value = decodeURIComponent(m[1]);\n"
                b"  document.getElementById('login').submit(); }\n")


def _login_page(next_path: str, failed: bool, status: int = 200) -> Response:
    return render_page("login.html", status_code=status, title="syndicate: sign in",
                  next_path=next_path, failed=failed)


async def login_form(request: Request) -> Response:
    return _login_page(_safe_next(request.query_params.get("next", "/")), failed=False)


async def login(request: Request) -> Response:
    auth: OperatorAuth = request.app.state.auth
    next_path = _safe_next(request.query_params.get("next", "/"))
    try:  # bounded in size and time like every body we read (api.intake)
        body = await read_limited(request, FORM_LIMIT, request.app.state.runtime.settings.body_timeout)
    except (BodyTooLarge, TimeoutError):
        return _login_page(next_path, failed=True, status=400)

    token = (parse_qs(body.decode("utf-8", "replace")).get("token") or [""])[0]
    if not auth.token_matches(token):
        return _login_page(next_path, failed=True, status=401)
    response = RedirectResponse(next_path, status_code=303, headers=security_headers())
    response.set_cookie(COOKIE, auth.session_cookie(), max_age=SESSION_S, httponly=True,
                        samesite="strict", secure=request.url.scheme == "https", path="/")
    return response


async def logout(request: Request) -> Response:
    response = RedirectResponse("/login", status_code=303, headers=security_headers())
    response.delete_cookie(COOKIE, path="/")
    return response


async def login_script(request: Request) -> Response:
    return Response(LOGIN_SCRIPT, media_type="text/javascript; charset=utf-8",
                    headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"})
