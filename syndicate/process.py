"""Child-process helpers shared by `syndicate run` and the tests."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys

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
