"""Loopback stand-ins for the remotes syndicate talks to, speaking their real request and
response shapes (../shared/reference/social_apis.md, websub.md), with fault injection.

Each fake records what it received; tests read `fake.requests` and queue faults with
`fake.fail_next(...)`.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class Recorded:
    def __init__(self, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        self.method, self.path, self.headers, self.body = method, path, headers, body

    @property
    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode())

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.path).query)


class Fake:
    """One HTTP server; subclasses answer in `respond`."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.faults: list[Any] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                rec = Recorded(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with fake.lock:
                    fault = fake.faults.pop(0) if fake.faults else None
                    fake.requests.append(rec)
                if fault == "drop-before":
                    self.close_connection = True
                    self.connection.close()
                    return
                if isinstance(fault, tuple) and fault[0] == "sleep":
                    time.sleep(fault[1])
                status, headers, payload = fault[1:] if isinstance(fault, tuple) and fault[0] == "answer" \
                    else fake.respond(rec)
                if fault == "drop-after":  # the request took effect; the answer never arrives
                    self.close_connection = True
                    self.connection.close()
                    return
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("content-type", headers.get("content-type", "application/json"))
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = do_PUT = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> None:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.faults.clear()
        self.reset_state()

    def reset_state(self) -> None:
        pass

    def fail_next(self, *faults: Any) -> None:
        """Queue faults for the next requests: "drop-before", "drop-after", ("sleep", s),
        ("answer", status, headers, body)."""
        with self.lock:
            self.faults.extend(faults)

    def received(self, method: str | None = None, path_prefix: str = "") -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests
                    if (method is None or r.method == method) and r.path.startswith(path_prefix)]

    def respond(self, rec: Recorded) -> tuple[int, dict[str, str], Any]:
        raise NotImplementedError


class FakeHub(Fake):
    """A WebSub hub: accepts `hub.mode=publish` pings with 204."""

    def respond(self, rec: Recorded) -> tuple[int, dict[str, str], Any]:
        form = rec.form
        if rec.method != "POST" or form.get("hub.mode") != ["publish"]:
            return 400, {"content-type": "text/plain"}, b"hub.mode=publish expected"
        return 204, {}, b""

    def pinged_urls(self) -> list[str]:
        urls: list[str] = []
        for rec in self.received("POST"):
            urls += rec.form.get("hub.url", [])
        return urls


class FakeServers:
    def __init__(self) -> None:
        self.hub = FakeHub()
        self.all = [self.hub]

    def start(self) -> None:
        for fake in self.all:
            fake.start()

    def stop(self) -> None:
        for fake in self.all:
            fake.stop()

    def reset(self) -> None:
        for fake in self.all:
            fake.reset()

    def environment(self) -> dict[str, str]:
        return {"SYNDICATE_WEBSUB_HUBS": self.hub.url + "/"}
