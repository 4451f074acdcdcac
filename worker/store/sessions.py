"""Operator sessions and sign-in attempts.

string `syn:session:<id>` ("1", expiring with the session): one browser session, created at
`POST /login` and deleted at `POST /logout`; a cookie whose id is gone is refused, so signing out
ends the session everywhere at once, and stays ended.
string `syn:login:failures:<client address>` and `syn:login:failures` (counters, expiring with
their window): failed sign-ins per client address and in all, for the sign-in limits.
"""

from __future__ import annotations

import secrets

from worker.store._prefix import PREFIX, Client

LOGIN_FAILURES = f"{PREFIX}login:failures"  # counter: failed sign-ins from anywhere, this window


def session_key(session_id: str) -> str:
    return f"{PREFIX}session:{session_id}"


def login_failures_key(address: str) -> str:
    """counter: failed sign-ins from one client address, this window."""
    return f"{LOGIN_FAILURES}:{address}"


# KEYS: the address's counter, the global one. ARGV: window (s). Counts one failure in both;
# each window starts at its first failure.
_FAIL = """
local counts = {}
for i, key in ipairs(KEYS) do
  counts[i] = redis.call('INCR', key)
  if counts[i] == 1 or redis.call('TTL', key) < 0 then
    redis.call('EXPIRE', key, ARGV[1])
  end
end
return counts
"""


class Sessions:
    def __init__(self, client: Client) -> None:
        self._r = client
        self._fail = client.register_script(_FAIL)

    def start(self, ttl_s: int) -> str:
        """A new session lasting `ttl_s`; its id (random, 192 bits) goes in the signed cookie."""
        session_id = secrets.token_urlsafe(24)
        self._r.set(session_key(session_id), b"1", ex=ttl_s)
        return session_id

    def active(self, session_id: str) -> bool:
        return bool(self._r.exists(session_key(session_id)))

    def end(self, session_id: str) -> None:
        self._r.delete(session_key(session_id))

    def login_blocked(self, address: str, per_address: int, in_all: int) -> int:
        """Seconds until sign-ins are allowed again (0: allowed now): the address, or everybody,
        has failed too often in the current window."""
        pipe = self._r.pipeline(transaction=False)
        for key in (login_failures_key(address), LOGIN_FAILURES):
            pipe.get(key)
            pipe.ttl(key)
        mine, mine_ttl, every, every_ttl = pipe.execute()
        wait = 0
        if int(mine or 0) >= per_address:
            wait = max(wait, int(mine_ttl), 1)
        if int(every or 0) >= in_all:
            wait = max(wait, int(every_ttl), 1)
        return wait

    def login_failed(self, address: str, window_s: int) -> None:
        self._fail(keys=[login_failures_key(address), LOGIN_FAILURES], args=[window_s])

    def login_succeeded(self, address: str) -> None:
        self._r.delete(login_failures_key(address))
