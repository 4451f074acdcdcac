"""Issue #26 item 3, interrupted work tells the truth, through the real commands: a `syndicate
backfill` stopped by SIGINT mid-way leaves every stored article's feeds marked for rendering,
says so and what to run next, and the feeds end up complete; a `syndicate run` that died
without cleaning up (SIGKILL, a closed terminal) is named as gone, not blamed on a Redis nobody
configured; `check` reads the secret `run` keeps."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import redis
import requests

from bench.events import article_event
from tests.support import ROOT, Run, wait_for
from worker.store.articles import ARTICLES, FEEDS
from worker.store.render_queue import DIRTY
from worker.store.rendered import meta_key, version_key
from worker.store.workers import Workers

ATOM = "{http://www.w3.org/2005/Atom}"


def _descendants(pid: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        children = [p for p, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def _renderers(pid: int) -> list[int]:
    out = []
    for child in _descendants(pid):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"worker.renderer" in cmdline:
            out.append(child)
    return out


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    service = Run(tmp_path_factory.mktemp("interrupted"))
    service.wait_up()
    workers = Workers(_redis(service))
    wait_for(workers.live_renderers, 60, "the renderer")  # backfill refuses without one
    yield service
    service.stop()


def _redis(run: Run) -> redis.Redis:
    directory = run.data / "redis"
    return redis.Redis(
        unix_socket_path=str(directory / "redis.sock"),
        password=(directory / "password").read_text().strip(),
    )


def _titles(base: str, key: str) -> list[str]:
    r = requests.get(f"{base}/feeds/{key}.atom", timeout=5)
    assert r.status_code == 200, key
    return [e.findtext(f"{ATOM}title") for e in ET.fromstring(r.content).iter(f"{ATOM}entry")]


def test_a_backfill_stopped_by_sigint_leaves_its_feeds_marked_and_says_what_next(run, tmp_path):
    archive = tmp_path / "archive.jsonl"
    archive.write_text("".join(json.dumps(article_event(n)) + "\n" for n in range(1, 4001)))
    r = _redis(run)
    backfill = subprocess.Popen(
        [sys.executable, "-m", "cli", "backfill", str(archive)],
        env=run.env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    renderers = []
    try:

        def under_way() -> bool:
            assert backfill.poll() is None, backfill.communicate()
            return r.zcard(ARTICLES) >= 200

        wait_for(under_way, 60, "the import under way")
        renderers = _renderers(run.proc.pid)
        assert renderers
        for pid in renderers:  # so nothing renders before `status` looks
            os.kill(pid, signal.SIGSTOP)
        stored = r.zcard(ARTICLES)
        wait_for(lambda: r.zcard(ARTICLES) >= stored + 100, 60, "more of the import")
        backfill.send_signal(signal.SIGINT)
        out, err = backfill.communicate(timeout=60)
        assert backfill.returncode == 130, err
        assert "backfill stopped (SIGINT) after line" in err and "Traceback" not in err
        assert f"Next: `syndicate backfill {archive}` imports the rest" in err
        stored = r.zcard(ARTICLES)
        assert 0 < stored < 4000
        status = run.cli("status")
        assert status.returncode == 0, status.stderr
        line = next(x for x in status.stdout.splitlines() if x.startswith("articles"))
        assert "waiting to be rendered" in line and "(0 waiting" not in line, line
    finally:
        if backfill.poll() is None:
            backfill.kill()
        for pid in renderers:
            os.kill(pid, signal.SIGCONT)

    feeds = [k.decode() for k in r.smembers(FEEDS)]
    assert feeds

    def complete() -> bool:
        if r.scard(DIRTY):
            return False
        for key in feeds:
            rendered = r.hget(meta_key(key), "rendered_version")
            if rendered is None or int(rendered) < int(r.get(version_key(key)) or 0):
                return False
        return True

    wait_for(complete, 120, "every feed rendered with every stored article")
    newest = max(int(a.decode().rpartition("-")[2]) for a in r.zrange(ARTICLES, 0, -1))
    title = article_event(newest)["article"]["title"]
    assert _titles(run.base, "all")[0] == title  # what readers see: the last article stored
    for tag in article_event(newest)["article"]["tags"]:
        assert title in _titles(run.base, "tag/" + tag.lower())


def test_a_run_that_died_without_cleaning_up_is_named_and_ignored(run, tmp_path):
    data = tmp_path / "var"
    data.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (data / "run.json").write_text(
        json.dumps(
            {
                "redis_url": "unix:///nowhere/redis.sock?db=0",
                "public_url": "http://127.0.0.1:8000",
                "pid": dead.pid,
            }
        )
    )
    (data / "webhook-secret").write_text("whsec_" + "A" * 43 + "=\n")
    env = {
        k: v
        for k, v in run.env.items()
        if k not in ("SYNDICATE_DATA_DIR", "SYNDICATE_WEBHOOK_SECRET", "SYNDICATE_ADMIN_TOKEN")
    }
    env["SYNDICATE_DATA_DIR"] = str(data)
    gone = f"a `syndicate run` (pid {dead.pid}) on {data.resolve()} is no longer running"
    status = subprocess.run(
        [sys.executable, "-m", "cli", "status"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert status.returncode == 1
    assert gone in status.stderr
    assert "unreachable" not in status.stderr  # not blamed on a Redis nobody configured
    assert f"no `syndicate run` is running with data in {data.resolve()}" in status.stderr
    check = subprocess.run(
        [sys.executable, "-m", "cli", "check"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert gone in check.stderr
    assert "webhook secret: set" in check.stdout, check.stdout


def test_run_says_where_its_data_is_and_a_closed_terminal_stops_it_in_order(run):
    status = run.cli("status")
    assert status.returncode == 0 and "no longer running" not in status.stderr
    assert json.loads((run.data / "run.json").read_text())["pid"] == run.proc.pid
    run.proc.send_signal(signal.SIGHUP)  # the terminal closed: everything stops in order
    run.proc.wait(60)
    out, err = run.stop()
    assert run.proc.returncode == 0 and "Traceback" not in err
    data_line = next(x for x in out.splitlines() if x.startswith("syndicate: data"))
    assert str(run.data.resolve()) in data_line and "new and empty" in data_line
    assert not (run.data / "run.json").exists()
