"""Faults injected into the real worker: crashes mid-task, remotes down for a while."""

from __future__ import annotations

import copy
import os
import signal
import subprocess

from tests.support import load_fixture, send, wait_for, wait_states


def kill_worker_tree(worker) -> None:
    pid = worker.proc.pid
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    for child in [int(p) for p in out.stdout.split()]:
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass
    worker.kill()


def test_sigkill_between_sending_and_recording_leaves_exactly_one_post(service, fakes, worker):
    """Facebook takes the post but answers slowly; the worker dies before it records the id.
    The rerun (late ack, visibility timeout) finds the post instead of making a second one."""
    fakes.facebook.fail_next(("sleep", 1.5))
    send(service, "seed-article-published")
    wait_for(lambda: len(fakes.facebook.posts) == 1, what="the post to land")
    kill_worker_tree(worker)
    entry = service.client.get("/articles/20230713-0001").json()["shares"]["facebook"]
    assert entry["state"] == "pending" and entry["in_flight"] == 1
    worker.start()
    state = wait_states(service, {"facebook": "sent", "twitter": "sent"}, timeout=60)
    assert len(fakes.facebook.posts) == 1
    assert len(fakes.facebook.received("POST", "/v25.0/1647395831/feed")) == 1
    assert state["facebook"]["remote_id"] in fakes.facebook.posts


def test_sigkill_during_a_burst_loses_no_event(service, worker):
    base = load_fixture("seed-article-published")
    ids = []
    for n in range(40):
        event = copy.deepcopy(base)
        event["id"] = f"evt-burst-{n}"
        event["article"]["id"] = f"burst-{n}"
        event["article"]["url"] = f"https://news.example.org/burst-{n}.html"
        event["article"]["share"]["networks"] = []
        assert service.send(event).status_code == 202
        ids.append(event["id"])
        if n == 20:
            kill_worker_tree(worker)
    worker.start()
    for event_id in ids:
        assert service.event_done(event_id, timeout=90)["status"] == "done"
    service.settle(timeout=30)
    import feedparser

    entries = feedparser.parse(service.feed("all", "atom").content).entries
    assert len(entries) == 40


def test_a_network_down_for_a_while_gets_the_post_when_it_returns(service, fakes):
    fakes.twitter.fail_next(*[("answer", 502, {}, {"title": "Bad Gateway"})] * 3)
    send(service, "seed-article-published")
    state = wait_states(service, {"twitter": "sent"}, timeout=30)
    assert state["twitter"]["attempts"] == 4
    assert len(fakes.twitter.posts) == 1
