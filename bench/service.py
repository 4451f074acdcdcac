"""syndicate as real processes for the bench: an embedded Redis, one `syndicate api`, and any
number of `syndicate worker --concurrency=1` processes, started and stopped between phases."""

from __future__ import annotations

import base64
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import redis
import requests
from standardwebhooks.webhooks import Webhook

from syndicate.embedded_redis import EmbeddedRedis
from syndicate.process import background_child, die_with_parent, free_port, stop
from worker.store import keys
from worker.store.events import Events

ROOT = Path(__file__).resolve().parent.parent


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the most resident memory the process ever had (Linux)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def children(pid: int) -> list[int]:
    """Children of every thread of `pid` (a child started by a thread is listed under it)."""
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


STAGES = (  # (stage, what its process's command line holds), first match wins
    ("applier (events)", "worker.applier"),
    ("renderer", "worker.renderer"),
    ("fediverse fan-out", "worker.fanout"),
    ("Celery worker", "celery"),
    ("Celery worker", "cli worker"),
    ("redis-server", "redis-server"),
    ("API (intake)", "cli api"),
)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def cpu_by_stage(roots: list[int]) -> dict[str, float]:
    """CPU seconds so far of every process under `roots`, summed by the stage its command line
    names (an API's own child processes count as the API; a worker's pool as the worker)."""
    out: dict[str, float] = {}
    todo = [(pid, "") for pid in roots]
    while todo:
        pid, inherited = todo.pop()
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        stage = next((name for name, mark in STAGES if mark in cmd), inherited or "other")
        out[stage] = out.get(stage, 0.0) + cpu_seconds(pid)
        todo += [(child, stage) for child in children(pid)]
    return out


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: timed out waiting for {what}")
        time.sleep(0.02)


class Service:
    """syndicate's API and workers as real processes on an embedded Redis, exporting every
    render to `workdir/export` (SYNDICATE_EXPORT_DIR) for the static-serving phase."""

    def __init__(
        self, workdir: Path, workers: int, api_processes: int = 1, **settings: str
    ) -> None:
        self.workdir = workdir
        # TCP, as the earlier baselines measured (bench/noop.py derives a TCP URL from it)
        self.redis_server = EmbeddedRedis(workdir / "redis", port=free_port())
        self.url = self.redis_server.start()
        self.secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.export_dir = workdir / "export"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATE_")}
        self.env.update(
            SYNDICATE_REDIS_URL=self.url,
            SYNDICATE_WEBHOOK_SECRET=self.secret,
            SYNDICATE_PUBLIC_URL=self.base,
            SYNDICATE_DATA_DIR=str(workdir / "data"),
            SYNDICATE_FEED_SIZE="50",
            SYNDICATE_EXPORT_DIR=str(self.export_dir),
            SYNDICATE_ACCESS_LOG="off",  # as the nginx it is measured against (access_log off)
            PYTHONPATH=str(ROOT),
            **settings,
        )
        self.r = redis.Redis.from_url(self.url)
        self.logs = open(workdir / "service.log", "ab")  # noqa: SIM115 (closed in close())
        self.workers: list[subprocess.Popen] = []
        self.api = self._spawn(
            [
                sys.executable,
                "-m",
                "cli",
                "api",
                "--port",
                str(self.port),
                "--processes",
                str(api_processes),
            ]
        )
        self.start_workers(workers)  # while the API starts
        wait_until(self._api_up, 30, "the API")

    def _spawn(self, cmd: list[str], background: bool = False) -> subprocess.Popen:
        return subprocess.Popen(
            cmd,
            env=self.env,
            cwd=ROOT,
            stdout=self.logs,
            stderr=self.logs,
            preexec_fn=background_child if background else die_with_parent,
        )

    def start_workers(self, count: int, paused: bool = False) -> None:
        """`count` more `syndicate worker --concurrency=1` processes (as `run` does, they yield
        the CPU to intake: syndicate.process.background_child), once they and their renderers
        are up. `paused`: they take no event until `resume()`."""
        if not self.workers:
            self.r.delete(keys.WORKERS, keys.RENDERERS)
        if paused:
            self.pause()
        for _ in range(count):
            n = len(self.workers)
            self.workers.append(
                self._spawn(
                    [
                        sys.executable,
                        "-m",
                        "cli",
                        "worker",
                        "--concurrency=1",
                        "--loglevel=WARNING",
                        "--without-gossip",
                        "--without-mingle",
                        f"--hostname=bench-{n}@%h",
                    ],
                    background=True,
                )
            )
        wait_until(
            lambda: (
                self.r.zcard(keys.WORKERS) >= len(self.workers)
                and self.r.zcard(keys.RENDERERS) >= len(self.workers)
            ),
            90,
            "the workers",
        )

    def resume(self) -> None:
        """The workers' appliers take events again, all at once."""
        Events(self.r, 0).pause(False)

    def pause(self) -> None:
        """Every worker's applier stops taking events; what it holds it finishes."""
        Events(self.r, 0).pause(True)

    def stop_workers(self) -> None:
        for proc in self.workers:  # all at once: each takes a few seconds to shut down warm
            proc.terminate()
        for proc in self.workers:
            stop(proc, 20)
        self.workers = []

    def _api_up(self) -> bool:
        try:
            return requests.get(self.base + "/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def signed(self, event: dict) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(event).encode()
        now = datetime.now(UTC)
        return body, {
            "content-type": "application/json",
            "webhook-id": event["id"],
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(self.secret).sign(event["id"], now, body.decode()),
        }

    def backlog(self) -> tuple[int, int]:
        """(events accepted and not yet applied, feeds waiting for a render)."""
        pipe = self.r.pipeline()
        pipe.zcard(keys.UNFINISHED)
        pipe.scard(keys.DIRTY)
        unfinished, dirty = pipe.execute()
        return int(unfinished), int(dirty)

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far by stage: the API, each worker's processes, Redis."""
        assert self.redis_server.proc is not None
        roots = [self.api.pid, *(w.pid for w in self.workers), self.redis_server.proc.pid]
        return cpu_by_stage(roots)

    def settled(self) -> bool:
        return self.backlog() == (0, 0)

    def renders(self) -> float:
        return float(self.r.hget(keys.COUNTERS, "renders") or 0)

    def peaks(self) -> dict[str, float]:
        out = {"api": peak_rss_mb(self.api.pid)}
        for n, pid in enumerate(children(self.api.pid), 1):
            out[f"api process {n}"] = peak_rss_mb(pid)
        for n, proc in enumerate(self.workers):
            out[f"worker {n}"] = peak_rss_mb(proc.pid)
        assert self.redis_server.proc is not None
        out["redis-server"] = peak_rss_mb(self.redis_server.proc.pid)
        return out

    def close(self) -> None:
        stop(self.api)
        self.stop_workers()
        self.redis_server.stop()
        self.logs.close()


class Connection:
    """A minimal keep-alive HTTP/1.1 client: the bench's own CPU per request stays ~0.05 ms
    (requests spends ~1 ms), so on a 2-core machine the figures are the service's, not ours."""

    def __init__(self, base: str) -> None:
        parts = urlsplit(base)
        self.host = parts.hostname or "127.0.0.1"
        self.sock = socket.create_connection((self.host, parts.port))
        self.buf = b""

    def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, bytes]:
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.sock.sendall(
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n{head}"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        head_bytes, _, self.buf = self.buf.partition(b"\r\n\r\n")
        status = int(head_bytes[9:12])
        length = 0
        for line in head_bytes.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        while len(self.buf) < length:
            self.buf += self.sock.recv(65536)
        body_out, self.buf = self.buf[:length], self.buf[length:]
        return status, body_out

    def close(self) -> None:
        self.sock.close()
