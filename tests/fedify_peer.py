"""A real ActivityPub server for the fediverse tests: Fedify 2.x (npm `@fedify/fedify`, installed by
tests/fedify/install.sh into .cache/fedify; `.ci/run` runs it) driven by tests/fedify/peer.mjs.

It serves accounts `@reader@127.0.0.1:{port}` and `@reader2@…` (one shared inbox `/inbox`), follows
and unfollows other accounts with Fedify's own WebFinger, lookup and signing code (cavage
signatures first, as Mastodon), auto-accepts follows, and records every POST to its inboxes with
Fedify's verdict on it. Not a test; it imports nothing of the service.

    with FedifyPeer() as peer:                 # or peer = FedifyPeer().start() ... peer.stop()
        peer.follow("tag.nato@127.0.0.1:8000")
        peer.wait_received(lambda a: a["type"] == "Accept")
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
FEDIFY_DIR = ROOT / ".cache" / "fedify"
NODE = FEDIFY_DIR / "bin" / "node"
SCRIPT = ROOT / "tests" / "fedify" / "peer.mjs"
SKIP_REASON = (
    "the Fedify peer is not installed: run tests/fedify/install.sh "
    "(needs npm; brings Node 22 from npm if the machine's node is older)"
)
DEFAULT_USER = "reader"


def available() -> bool:
    """Whether tests/fedify/install.sh has run (tests skip with SKIP_REASON otherwise)."""
    return (FEDIFY_DIR / "node_modules" / ".syndicate-installed").exists() and os.access(
        NODE, os.X_OK
    )


class PeerError(AssertionError):
    """A control call the peer refused or could not carry out (status and Fedify's error)."""

    def __init__(self, status: int, answer: Any) -> None:
        super().__init__(f"Fedify peer answered {status}: {answer}")
        self.status, self.answer = status, answer


class FedifyPeer:
    """One Fedify server process on 127.0.0.1; its accounts are `users` (the first is the default)."""

    def __init__(self, users: tuple[str, ...] = (DEFAULT_USER, "reader2")) -> None:
        self.users = users
        self.url = ""  # http://127.0.0.1:{port}, once started
        self.port = 0
        self.log_path: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    # -- process -----------------------------------------------------------------------------
    def start(
        self, port: int | None = None, env: Mapping[str, str] | None = None, timeout: float = 30
    ) -> FedifyPeer:
        """Start the peer (a free port unless `port`); `env` adds FEDIFY_FIRST_KNOCK=rfc9421,
        FEDIFY_PEER_AUTO_ACCEPT=0, FEDIFY_PEER_HOST=… to the process's environment."""
        if not available():
            raise RuntimeError(SKIP_REASON)
        _refresh_script()
        self._tmp = tempfile.TemporaryDirectory(prefix="fedify-peer-")
        tmp = Path(self._tmp.name)
        ready, self.log_path = tmp / "ready.json", tmp / "peer.log"
        full_env = {
            **os.environ,
            "PORT": str(port or 0),
            "FEDIFY_PEER_USERS": ",".join(self.users),
            **(env or {}),
        }
        with open(self.log_path, "wb") as log:  # a file, never a pipe nobody reads
            self._proc = subprocess.Popen(
                [str(NODE), "peer.mjs", str(ready)],
                cwd=FEDIFY_DIR,
                env=full_env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not (ready.exists() and ready.stat().st_size):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                out = self.log()
                self.stop()
                raise RuntimeError(f"the Fedify peer did not start:\n{out}")
            time.sleep(0.05)
        info = json.loads(ready.read_text())
        self.url, self.port = info["origin"], info["port"]
        return self

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def log(self) -> str:
        """The peer's stdout/stderr so far (for assertion messages)."""
        if self.log_path and self.log_path.exists():
            return self.log_path.read_text(errors="replace")
        return ""

    def __enter__(self) -> FedifyPeer:
        return self.start() if self._proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- identities --------------------------------------------------------------------------
    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def handle_of(self, user: str = DEFAULT_USER) -> str:
        return f"{user}@{self.host}"

    def actor_of(self, user: str = DEFAULT_USER) -> str:
        return f"{self.url}/users/{user}"

    @property
    def handle(self) -> str:
        """`reader@127.0.0.1:{port}` (no leading @)."""
        return self.handle_of()

    @property
    def actor_url(self) -> str:
        return self.actor_of()

    @property
    def inbox_url(self) -> str:
        return f"{self.actor_url}/inbox"

    @property
    def shared_inbox_url(self) -> str:
        return f"{self.url}/inbox"

    @property
    def key_id(self) -> str:
        return f"{self.actor_url}#main-key"

    # -- control API -------------------------------------------------------------------------
    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        r = requests.request(method, f"{self.url}/control/{path}", json=body, timeout=60)
        answer = r.json()
        if r.status_code != 200:
            raise PeerError(r.status_code, answer)
        return answer

    def follow(self, account: str, user: str = DEFAULT_USER) -> dict[str, Any]:
        """`user` follows `account` (`name@host:port`, `@name@host`, `acct:…` or an actor URL):
        Fedify's WebFinger lookup and actor fetch, then a signed Follow POSTed to its inbox.
        Returns {follow_id, actor, inbox, shared_inbox}; PeerError 404 when the lookup fails,
        502 when the inbox refused the Follow (Fedify's error text in `.answer`)."""
        return self._call("POST", "follow", {"handle": account, "as": user})

    def unfollow(self, account: str, user: str = DEFAULT_USER) -> dict[str, Any]:
        """A signed Undo with the earlier Follow embedded. Returns {undo_id, follow_id, actor};
        PeerError 409 if `user` does not follow `account`."""
        return self._call("POST", "unfollow", {"handle": account, "as": user})

    def received(self, type: str | None = None) -> list[dict[str, Any]]:  # noqa: A002
        """Every POST to the peer's inboxes, in arrival order (optionally only one activity type):
        seq, inbox, shared, recipient, status (the peer's answer), verified (Fedify's inbox ran
        its listeners: signature verified, key owned by the actor), reason (why not),
        http_signature {verified, key_id, reason} (Fedify's verifyRequestDetailed on the HTTP
        signature alone), signature_spec, key_id, algorithm, signed_components, type, id, actor,
        activity (the JSON as sent), headers; Announce: object (fetched by id) or object_error;
        Accept: accepted_follow."""
        items: list[dict[str, Any]] = self._call("GET", "received")
        return [a for a in items if type is None or a["type"] == type]

    def wait_received(
        self,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        count: int = 1,
        timeout: float = 20,
    ) -> list[dict[str, Any]]:
        """Wait until at least `count` received entries match; returns the matching ones."""
        deadline = time.monotonic() + timeout
        while True:
            got = [a for a in self.received() if predicate is None or predicate(a)]
            if len(got) >= count:
                return got
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"the Fedify peer received {len(got)} of {count} expected "
                    f"activities: {[a['type'] for a in self.received()]}"
                )
            time.sleep(0.1)

    def sent(self) -> list[dict[str, Any]]:
        """Every outgoing request Fedify made: method, url, status or error, signature_spec,
        key_id, algorithm, signed_components."""
        items: list[dict[str, Any]] = self._call("GET", "sent")
        return items

    def state(self) -> dict[str, Any]:
        """{"following": {user: {actor: {follow_id, actor, follow, accepted}}},
        "followers": {user: {follower actor: follow id}}}."""
        answer: dict[str, Any] = self._call("GET", "state")
        return answer

    def reset(self) -> None:
        """Forget received, sent, following and followers (keys and key caches stay)."""
        self._call("POST", "reset")


@contextmanager
def running_peer(
    port: int | None = None,
    env: Mapping[str, str] | None = None,
    users: tuple[str, ...] = (DEFAULT_USER, "reader2"),
) -> Iterator[FedifyPeer]:
    """A started FedifyPeer for a `with` block, or for a fixture: `with running_peer() as p: yield p`."""
    peer = FedifyPeer(users).start(port=port, env=env)
    try:
        yield peer
    finally:
        peer.stop()


def _refresh_script() -> None:
    """The peer runs from .cache/fedify (where node_modules is); keep its copy of peer.mjs current
    without rerunning install.sh (atomic: two xdist workers may start peers at once)."""
    target = FEDIFY_DIR / "peer.mjs"
    source = SCRIPT.read_bytes()
    if target.exists() and target.read_bytes() == source:
        return
    with tempfile.NamedTemporaryFile(dir=FEDIFY_DIR, delete=False, suffix=".tmp") as f:
        f.write(source)
    os.replace(f.name, target)


__all__ = ["FedifyPeer", "PeerError", "SKIP_REASON", "available", "running_peer"]
