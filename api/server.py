"""The HTTP server: uvicorn with httptools, plus the limits a public listener needs.

uvicorn bounds neither the size of a request head nor the time a client may take to send it, so
one client could hold megabytes or a connection forever. `LimitedProtocol` adds both:
- a request head (request line and headers) over `SYNDICATE_MAX_HEADER_BYTES` is answered
  431 and the connection closed;
- a connection that has not sent a whole request head within `SYNDICATE_HEADER_TIMEOUT`
  seconds of opening (or of its first byte after a keep-alive pause) is answered 408 and closed,
  which also ends byte-at-a-time senders;
- an idle keep-alive connection closes after `SYNDICATE_IDLE_TIMEOUT` (uvicorn's own timer);
- at most `SYNDICATE_MAX_CONNECTIONS` connections and tasks at once; more are answered 503.
Request bodies have their own limits in api.intake (size 413, time 408).
`X-Forwarded-For` and `X-Forwarded-Proto` are believed only from SYNDICATE_TRUSTED_PROXIES
(addresses or CIDR networks; default loopback).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import Callable
from typing import Any

import httptools
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from syndicate.config import Settings
from syndicate.process import die_with_parent


def _answer(transport: asyncio.Transport, status: str, text: str) -> None:
    body = text.encode()
    transport.write(
        b"HTTP/1.1 " + status.encode() + b"\r\ncontent-type: text/plain; charset="
        b"utf-8\r\ncontent-length: "
        + str(len(body)).encode()
        + b"\r\nconnection: close\r\n\r\n"
        + body
    )
    transport.close()


class LimitedProtocol(HttpToolsProtocol):
    max_header_bytes = 16_384
    header_timeout_s = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0
        self._in_head = True  # between requests, or inside a request line and headers
        self._head_timer: asyncio.TimerHandle | None = None
        self._parsed_head = 0
        self._head_too_large = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)  # a head still incomplete: all of it is head
            self._arm_head_timer()
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._unsupported_upgrade_warning()  # no websockets here
            self.send_400_response("Unsupported upgrade request.")
            return
        except httptools.HttpParserError:
            if self._head_too_large:
                self._too_large()
            else:
                self.send_400_response("Invalid HTTP request received.")
            return
        if self._in_head and self._head_bytes > self.max_header_bytes:
            self._too_large()

    def _count(self, n: int) -> None:
        """Head bytes as parsed (a whole head can arrive in one read)."""
        self._parsed_head += n
        if self._parsed_head > self.max_header_bytes:
            self._head_too_large = True
            raise ValueError("request head too large")  # stops the parser

    def on_message_begin(self) -> None:
        self._parsed_head = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def _too_large(self) -> None:
        self._disarm_head_timer()
        if not self.transport.is_closing():
            _answer(
                self.transport,
                "431 Request Header Fields Too Large",
                f"request head over {self.max_header_bytes} bytes\n",
            )

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._disarm_head_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_head = True
        super().on_message_complete()

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_too_slow)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a response is still being made for the previous request
        if self._head_bytes:
            _answer(
                self.transport,
                "408 Request Timeout",
                f"request head not received within {self.header_timeout_s:g} s\n",
            )
        else:
            self.transport.close()  # never said anything: just close


def protocol_for(settings: Settings) -> type[LimitedProtocol]:
    return type(
        "Protocol",
        (LimitedProtocol,),
        {
            "max_header_bytes": settings.max_header_bytes,
            "header_timeout_s": settings.header_timeout,
        },
    )


class Server(uvicorn.Server):
    def handle_exit(self, sig: int, frame: object) -> None:
        # uvicorn re-raises a caught SIGTERM after shutdown, which would kill this process
        # before `run` stops its worker and Redis in order; just stop serving instead.
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        self.should_exit = True


def config(app: Any, settings: Settings, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        http=protocol_for(settings),
        timeout_keep_alive=int(settings.idle_timeout),
        limit_concurrency=settings.max_connections,
        # X-Forwarded-For/-Proto believed from these peers only (the client address the login
        # limits count, and https for the session cookie's Secure flag)
        proxy_headers=True,
        forwarded_allow_ips=list(settings.trusted_proxies),
    )


def serve(
    app: Any, settings: Settings, host: str, port: int, listener: socket.socket | None = None
) -> None:
    """Serve until SIGINT/SIGTERM; on `listener` if given (bound by the caller beforehand)."""
    server = Server(config(app, settings, host, port))
    server.run(sockets=[listener] if listener is not None else None)


def serve_processes(
    make_app: Callable[[], Any],
    settings: Settings,
    host: str,
    port: int,
    listener: socket.socket,
    processes: int,
) -> int:
    """`processes` servers sharing one listening socket (the kernel hands each new connection to
    one of them), so intake and serving use more than one core. Each child builds its own app
    and runtime after the fork. The parent only waits: SIGTERM or SIGINT stops them all, and if
    one exits by itself the others are stopped too and its status is returned, for the
    supervisor (compose's `restart:`) to start the whole API again."""
    children: list[int] = []
    for _ in range(processes):
        pid = os.fork()
        if pid == 0:  # the child: serve until told to stop
            code = 1
            try:
                die_with_parent()
                serve(make_app(), settings, host, port, listener)
                code = 0
            finally:
                os._exit(code)
        children.append(pid)
    stopping = False

    def stop_all(*_: object) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop_all)
    signal.signal(signal.SIGINT, stop_all)
    code, left = 0, set(children)
    while left:
        pid, status = os.wait()
        left.discard(pid)
        if not stopping:  # one died on its own: take the rest down, report it
            code = os.waitstatus_to_exitcode(status) or 1
            stop_all()
    return code
