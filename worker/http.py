"""Outbound HTTP in one place: a `requests.Session` per remote, with timeouts and no retries of
its own (the retry policies are worker/retry.py's).

Sessions never retry on their own: whether a failed POST may be sent again depends on whether
it may already have taken effect, which only the caller (the delivery state machine) knows.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

USER_AGENT = "syndicate/0.1 (+https://github.com/syndicate)"
CONNECT_TIMEOUT_S = 3.0

# The `traceparent` the requests of the work under way carry (`traced`). A context variable, not
# a session header: sessions are shared by every run in a process, a context is each run's own
# (each thread's, each task's), so two runs never send each other's trace, and a call made
# outside any run sends none.
_TRACEPARENT: ContextVar[str] = ContextVar("traceparent", default="")


@contextmanager
def traced(traceparent: str) -> Iterator[None]:
    """Every request a `RemoteSession` sends within this block carries `traceparent`."""
    token = _TRACEPARENT.set(traceparent)
    try:
        yield
    finally:
        _TRACEPARENT.reset(token)


class RemoteSession(requests.Session):
    """A session whose every request carries (connect, read) timeouts, and the trace of the
    work under way (`traced`)."""

    def __init__(self, read_timeout_s: float) -> None:
        super().__init__()
        self.timeout = (min(CONNECT_TIMEOUT_S, read_timeout_s), read_timeout_s)
        adapter = HTTPAdapter(
            max_retries=Retry(total=0, connect=0, read=0, redirect=0),
            pool_connections=4,
            pool_maxsize=8,
        )
        self.mount("http://", adapter)
        self.mount("https://", adapter)
        self.headers["User-Agent"] = USER_AGENT

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", self.timeout)
        kwargs.setdefault("allow_redirects", False)
        traceparent = _TRACEPARENT.get()
        if traceparent:  # this request's own header, merged over the session's
            kwargs["headers"] = {"traceparent": traceparent, **(kwargs.get("headers") or {})}
        return super().request(method, url, *args, **kwargs)

    def get(self, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        # requests.Session.get passes allow_redirects=True itself: no redirect unless asked
        kwargs.setdefault("allow_redirects", False)
        return self.request("GET", url, *args, **kwargs)


def request_was_sent(exc: requests.RequestException) -> bool:
    """False when the request cannot have reached the remote: no connection was made (refused,
    a name that does not resolve, a connect timeout), by urllib3's own exception types."""
    if isinstance(exc, requests.ConnectTimeout):
        return False
    if isinstance(exc, requests.ConnectionError):
        reason = exc.args[0] if exc.args else None
        if isinstance(reason, urllib3.exceptions.MaxRetryError):
            reason = reason.reason
        # NameResolutionError is a NewConnectionError: nothing was sent either way
        return not isinstance(
            reason, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError)
        )
    return True
