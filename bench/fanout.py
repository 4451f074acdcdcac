"""The fediverse fan-out phase of `python -m bench` (issue #22): what thousands of followers on
hundreds of servers cost. A service of its own with `SYNDICATE_ACTIVITYPUB=on`; loopback inboxes
on `servers` addresses (127.0.1.x, one port: each address is a server to the service, with its
own shared inbox and its own backoff); `followers` followers of `all` spread over them, written
straight into the store (a Follow each would only measure the inbox).

It reports publish-to-visible at a steady rate without followers and then with them (the fan-out
must not slow the feeds), and deliveries per second to the inboxes (first event to the last
delivery). Nothing is asserted.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from bench import phases
from bench.service import Service, free_port, wait_until
from syndicate.config import Settings
from worker.runtime import Runtime


class Inboxes:
    """One asyncio HTTP server listening on `count` loopback addresses: every POST is a
    delivery, answered 202 and counted with its time."""

    def __init__(self, count: int) -> None:
        self.hosts = [f"127.0.{1 + n // 250}.{1 + n % 250}" for n in range(count)]
        self.port = free_port()
        self.times: list[float] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()
        self._ready.wait(30)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, host=self.hosts, port=self.port, backlog=1024)
        )
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                if length:
                    await reader.readexactly(length)
                if head.startswith(b"POST"):
                    self.times.append(time.monotonic())
                writer.write(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()

    def inbox(self, n: int) -> str:
        return f"http://{self.hosts[n]}:{self.port}/inbox"

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)


def fanout(
    workdir: Path, workers: int, followers: int, servers: int, rate: float, seconds: float
) -> dict:
    inboxes = Inboxes(servers)
    svc = Service(
        workdir / "fanout",
        workers,
        SYNDICATE_ACTIVITYPUB="on",
        SYNDICATE_ALLOW_PRIVATE_ADDRESSES="on",
    )
    try:
        without = phases.step(svc, rate, seconds, first_n=2_000_000)
        wait_until(svc.settled, 600, "the backlog to drain")
        rt = Runtime(Settings.from_env({"SYNDICATE_REDIS_URL": svc.url}))
        for n in range(followers):
            server = n % servers
            rt.store.fediverse.follow(
                "all",
                f"http://{inboxes.hosts[server]}:{inboxes.port}/users/u{n}",
                inboxes.inbox(server),
                f"http://{inboxes.hosts[server]}/follows/{n}",
                f"{inboxes.hosts[server]}:{inboxes.port}",
                10**7,
                10**7,
            )
        before = len(inboxes.times)
        started = time.monotonic()
        with_followers = phases.step(svc, rate, seconds, first_n=2_100_000)
        expected = with_followers["accepted"] * servers  # one Create per shared inbox
        deadline = time.monotonic() + 600
        while len(inboxes.times) - before < expected and time.monotonic() < deadline:
            time.sleep(0.2)
        delivered = len(inboxes.times) - before
        last = inboxes.times[-1] if delivered else started
        return {
            "followers": followers,
            "servers": servers,
            "without": without,
            "with": with_followers,
            "delivered": delivered,
            "expected": expected,
            "deliveries_per_s": delivered / max(last - started, 1e-9),
        }
    finally:
        svc.close()
        inboxes.stop()
