"""Child-process helpers shared by `syndicate run` and the tests."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import threading

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In a child, before exec: get SIGTERM if the parent dies, so nothing is left behind."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        except OSError:
            pass


WORKER_NICENESS = 10


def background_child() -> None:
    """`die_with_parent`, and a lower CPU priority: on a machine that runs the API and the
    worker together (`syndicate run`), intake answers the CMS first and the queue absorbs a
    burst; the worker catches up as soon as intake is idle."""
    die_with_parent()
    os.nice(WORKER_NICENESS)


def stop(proc: subprocess.Popen | None, timeout: float = 15) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Supervised:
    """A child process that is started again whenever it exits on its own, as compose's
    `restart: unless-stopped` does for the worker container.

    Why `syndicate run` needs it: when Redis restarts, kombu can hit an error while it restores
    unacknowledged messages during the reconnect and the Celery worker exits ("Unrecoverable
    error: 'NoneType' object has no attribute 'hostname'"). Its tasks are safe in Redis (late
    acks, append-only file); they only need a worker to come back.
    """

    def __init__(
        self,
        cmd: list[str],
        *,
        env: dict[str, str],
        cwd: str | None = None,
        stdout: object = None,
        stderr: object = None,
        preexec_fn: object = die_with_parent,
        name: str = "worker",
    ) -> None:

        self._popen_args = {
            "env": env,
            "cwd": cwd,
            "stdout": stdout,
            "stderr": stderr,
            "preexec_fn": preexec_fn,
        }
        self.cmd, self.name = cmd, name
        self.proc: subprocess.Popen | None = None
        self.restarts = 0
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

    def start(self) -> Supervised:

        self.proc = subprocess.Popen(self.cmd, **self._popen_args)  # type: ignore[call-overload]
        self._watcher = threading.Thread(
            target=self._watch, name=f"supervise-{self.name}", daemon=True
        )
        self._watcher.start()
        return self

    def poll(self) -> int | None:
        return self.proc.poll() if self.proc is not None else None

    def _watch(self) -> None:

        log = logging.getLogger("syndicate.process")
        delay = 1.0
        while not self._stopping.is_set():
            assert self.proc is not None
            code = self.proc.wait()
            if self._stopping.wait(delay):
                return
            log.warning("%s exited with status %s; starting it again", self.name, code)
            self.restarts += 1
            self.proc = subprocess.Popen(self.cmd, **self._popen_args)  # type: ignore[call-overload]
            delay = min(delay * 2, 30.0)

    def stop(self, timeout: float = 15) -> None:
        self._stopping.set()
        stop(self.proc, timeout)
        if self._watcher is not None:
            self._watcher.join(timeout=2)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for a child to bind)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_event_of_child() -> threading.Event:
    """For a worker's child process (the applier, the renderer): an event set on SIGTERM or
    SIGINT, or when the parent goes away without a word (SIGKILL), so the child's loop ends."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    parent = os.getppid()

    def orphaned() -> None:
        while not stop.wait(1):
            if os.getppid() != parent:
                stop.set()

    threading.Thread(target=orphaned, daemon=True).start()
    return stop
