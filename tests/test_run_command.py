"""The real `syndicate run` on a fresh data directory: up, serves the seed, stops cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import feedparser
import pytest
import requests

from tests.fakes import FakeServers
from tests.support import (
    ADMIN_TOKEN,
    FIXTURES,
    OPERATOR,
    ROOT,
    SECRET,
    api_process,
    free_port,
    load_fixture,
    run_cli,
    signed_headers,
    wait_for,
)


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    pids = [int(p) for p in out.stdout.split()]
    return pids + [c for p in pids for c in _children(p)]


@pytest.fixture
def own_fakes():
    """Fakes of its own: the session's worker may still be posting other tests' articles."""
    servers = FakeServers()
    servers.start()
    yield servers
    servers.stop()


def test_run_serves_the_seed_and_sigterm_leaves_nothing_behind(tmp_path, own_fakes):
    """The real command, its three channels and a hub pointed at the loopback fakes."""
    fakes = own_fakes
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATE_")}
    env.update(
        SYNDICATE_DATA_DIR=str(tmp_path / "data"),
        SYNDICATE_WEBHOOK_SECRET=SECRET,
        SYNDICATE_ADMIN_TOKEN=ADMIN_TOKEN,
        **fakes.environment(),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "run", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            try:
                return requests.get(base + "/readyz", timeout=1).status_code == 200
            except requests.ConnectionError:
                assert proc.poll() is None, proc.stdout.read().decode()
                return False

        wait_for(up, timeout=60, what="syndicate run")
        children = _children(proc.pid)
        assert children, "run starts a worker and a redis-server"
        seed = load_fixture("seed-article-published")
        body = json.dumps(seed).encode()
        r = requests.post(base + "/events", data=body, headers=signed_headers(seed["id"], body))
        assert r.status_code == 202
        feed = wait_for(
            lambda: feedparser.parse(requests.get(base + "/feeds/tag/nato.atom").content).entries,
            timeout=5,
            what="the seed in tag/nato",
        )
        assert feed[0].title == seed["article"]["title"]
        # Self links use the public URL, which defaults to http://HOST:PORT.
        assert (
            f'<{base}/feeds/tag/nato.atom>; rel="self"'
            in requests.get(base + "/feeds/tag/nato.atom").headers["link"]
        )
        # One post per network, no more:
        url = seed["article"]["url"]

        def posts() -> tuple[int, int, int]:
            return (
                sum(url in t for t in list(fakes.twitter.posts.values())),
                sum(p["link"] == url for p in list(fakes.facebook.posts.values())),
                sum(
                    a["object"]["attachments"][0]["url"] == url
                    for a in list(fakes.googleplus.activities.values())
                ),
            )

        wait_for(lambda: posts() == (1, 1, 1), timeout=15, what="one post each")
        shares = requests.get(f"{base}/articles/{seed['article']['id']}", headers=OPERATOR).json()[
            "shares"
        ]
        assert {n: e["state"] for n, e in shares.items()} == {
            "twitter": "sent",
            "facebook": "sent",
            "googleplus": "sent",
            "mastodon": "skipped",
            "bluesky": "skipped",
            "threads": "skipped",
            "linkedin": "skipped",
        }  # not configured: skipped
        wait_for(
            lambda: f"{base}/feeds/tag/nato.atom" in fakes.hub.pinged_urls(),
            timeout=10,
            what="the hub ping",
        )
        time.sleep(0.5)
        assert posts() == (1, 1, 1)
        assert (tmp_path / "data" / "redis" / "appendonlydir").exists() or any(
            p.name.startswith("appendonly") for p in (tmp_path / "data" / "redis").iterdir()
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=30)[0].decode()
    assert proc.returncode == 0, output
    assert "syndicate: API" in output
    for pid in children:
        assert (
            not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
        )


def test_api_refuses_to_start_without_a_secret(tmp_path):
    r = run_cli({}, "api", env={"SYNDICATE_REDIS_URL": "redis://127.0.0.1:6379/0"}, timeout=30)
    assert r.returncode != 0
    assert "SYNDICATE_WEBHOOK_SECRET" in r.stderr
    assert "Traceback" not in r.stderr


def test_bad_configuration_is_one_line_and_nonzero(tmp_path):
    r = run_cli({}, "run", env={"SYNDICATE_FEED_SIZE": "lots"}, timeout=30)
    assert r.returncode != 0
    assert r.stderr.strip().count("\n") == 0 and "SYNDICATE_FEED_SIZE" in r.stderr


def test_send_signs_and_posts_an_event_file(settings, service):
    with api_process(settings) as base:

        def send() -> subprocess.CompletedProcess:
            return run_cli(
                {"SYNDICATE_WEBHOOK_SECRET": SECRET},
                "send",
                str(FIXTURES / "seed-article-published.json"),
                "--url",
                base,
                timeout=30,
            )

        r = send()
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("202 ") and '"queued"' in r.stdout
        again = send()
        assert again.stdout.startswith("200 ") and '"duplicate"' in again.stdout
