"""Backups of the one stateful piece, Redis (`syndicate backup`, `syndicate restore`).

A backup is Redis's own point-in-time snapshot, an RDB file, taken the way a replica (and
`redis-cli --rdb`) gets one: `SYNC` on a connection of its own. It works the same for the
embedded Redis of `run` (a unix socket with a password, CONFIG disabled) and for an external one,
and needs no access to the Redis machine's disk. A restore loads the file into a private,
throw-away redis-server (the one `run` uses) and copies every key, with its time to live, into
the target with DUMP/RESTORE: whatever the target's persistence (the AOF of the embedded Redis, or
an external Redis's own), the restored keys are written as any other write is.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import redis

RDB_MAGIC = b"REDIS"
SCAN_COUNT = 500
MAX_LINE = 1024  # the bulk header of the SYNC reply: "$<length>\r\n"


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why and what to do."""


def _connect(client: redis.Redis, timeout: float) -> socket.socket:
    kwargs = client.connection_pool.connection_kwargs
    if kwargs.get("ssl") or client.connection_pool.connection_class is redis.SSLConnection:
        raise BackupError(
            "a TLS Redis (rediss://): take the snapshot with `redis-cli --tls "
            "--rdb FILE` instead (docs/operations.md)"
        )
    if kwargs.get("path"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(kwargs["path"])
    else:
        sock = socket.create_connection(
            (kwargs.get("host", "localhost"), int(kwargs.get("port", 6379))), timeout=timeout
        )
    password, username = kwargs.get("password"), kwargs.get("username")
    if password:
        args = ["AUTH", *([username] if username else []), password]
        sock.sendall(_command(args))
        reply = _line(sock)
        if not reply.startswith(b"+"):
            sock.close()
            raise BackupError("Redis refused the password")
    return sock


def _command(args: list[str]) -> bytes:
    out = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def _line(sock: socket.socket) -> bytes:
    """One reply line (CRLF stripped), read a byte at a time: nothing after it is consumed."""
    data = bytearray()
    while not data.endswith(b"\n"):
        chunk = sock.recv(1)
        if not chunk:
            raise BackupError("Redis closed the connection")
        data += chunk
        if len(data) > MAX_LINE:
            raise BackupError("unexpected answer from Redis")
    return bytes(data).rstrip(b"\r\n")


def snapshot(client: redis.Redis, out: IO[bytes], timeout: float = 600.0) -> int:
    """Write a point-in-time RDB of the whole Redis to `out`; its size in bytes."""
    sock = _connect(client, timeout)
    try:
        sock.sendall(_command(["SYNC"]))
        header = b""
        while not header:  # newlines are keep-alives while Redis writes the snapshot
            header = _line(sock)
        if header.startswith(b"-"):
            raise BackupError(
                f"Redis refused SYNC ({header[1:].decode(errors='replace')}): a "
                "managed Redis may forbid it; use its own snapshots"
            )
        if not header.startswith(b"$") or header.startswith(b"$EOF:"):
            raise BackupError("unexpected answer to SYNC")
        size = remaining = int(header[1:])
        first = True
        while remaining:
            chunk = sock.recv(min(remaining, 1 << 20))
            if not chunk:
                raise BackupError("Redis closed the connection in the middle of the snapshot")
            if first and not chunk.startswith(RDB_MAGIC[: len(chunk)]):
                raise BackupError("what Redis sent is not an RDB snapshot")
            first = False
            out.write(chunk)
            remaining -= len(chunk)
        return size
    finally:
        sock.close()


def rdb_version(path: Path) -> int:
    """The RDB format version of a snapshot file (9: Redis 5 to 6.2; 10 and up: Redis 7)."""
    with open(path, "rb") as f:
        head = f.read(9)
    if len(head) != 9 or not head.startswith(RDB_MAGIC) or not head[5:].isdigit():
        raise BackupError(f"{path} is not a Redis snapshot (RDB file)")
    return int(head[5:])


def _server_rdb_version(binary: str) -> int:
    version = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, timeout=10
    ).stdout
    major = int(version.split("v=", 1)[1].split(".", 1)[0]) if "v=" in version else 6
    return {5: 9, 6: 9, 7: 12}.get(major, 12 if major > 7 else 9)


def _throwaway_server(binary: str, rdb: Path, workdir: Path) -> tuple[subprocess.Popen, Path]:
    """A redis-server of our own on a copy of the snapshot: unix socket, no persistence."""
    (workdir / "dump.rdb").write_bytes(rdb.read_bytes())
    sock = workdir / "s.sock"
    conf = workdir / "redis.conf"
    conf.write_text(
        "\n".join(
            [
                f'dir "{workdir}"',
                "dbfilename dump.rdb",
                "port 0",
                f'unixsocket "{sock}"',
                "unixsocketperm 700",
                "appendonly no",
                'save ""',
                "daemonize no",
            ]
        )
        + "\n"
    )
    proc = subprocess.Popen(
        [binary, str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return proc, sock


def _wait_loaded(proc: subprocess.Popen, sock: Path, timeout: float = 300) -> redis.Redis:
    client = redis.Redis(unix_socket_path=str(sock))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BackupError("this snapshot could not be loaded (damaged, or from a newer Redis)")
        try:
            client.ping()
            return client
        except (redis.ConnectionError, redis.BusyLoadingError, FileNotFoundError):
            time.sleep(0.1)
    raise BackupError("loading the snapshot took too long")


def source_dbs(client: redis.Redis) -> list[int]:
    return sorted(int(name[2:]) for name in client.info("keyspace") if name.startswith("db"))


def copy_keys(source: redis.Redis, target: redis.Redis, progress: Callable[[int], Any]) -> int:
    """Every key of `source`'s database into `target`'s, with its time to live; how many."""
    copied = 0
    cursor = 0
    while True:
        cursor, keys = source.scan(cursor, count=SCAN_COUNT)
        if keys:
            read = source.pipeline(transaction=False)
            for key in keys:
                read.dump(key)
                read.pttl(key)
            values = read.execute()
            write = target.pipeline(transaction=False)
            for i, key in enumerate(keys):
                payload, ttl = values[2 * i], values[2 * i + 1]
                if payload is None or ttl == -2:  # expired meanwhile
                    continue
                write.restore(key, max(int(ttl), 0), payload, replace=True)
                copied += 1
            write.execute()
            progress(len(keys))
        if cursor == 0:
            return copied


def restore(
    rdb: Path,
    target_for_db: Callable[[int], redis.Redis],
    binary: str,
    progress: Callable[[int], Any] = lambda n: None,
) -> dict[int, int]:
    """Copy every key of the snapshot `rdb` into the target (database N into database N); the
    number of keys per database."""
    version = rdb_version(rdb)
    if version > _server_rdb_version(binary):
        raise BackupError(
            f"this snapshot is from a newer Redis (RDB version {version}) than "
            f"{binary} can read: restore it with that Redis (docs/operations.md)"
        )
    with tempfile.TemporaryDirectory(prefix="syndicate-restore-") as tmp:
        os.chmod(tmp, 0o700)
        proc, sock = _throwaway_server(binary, rdb, Path(tmp))
        try:
            loaded = _wait_loaded(proc, sock)
            counts = {}
            for db in source_dbs(loaded):
                source = redis.Redis(unix_socket_path=str(sock), db=db)
                counts[db] = copy_keys(source, target_for_db(db), progress)
            return counts
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
