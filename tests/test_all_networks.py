"""The whole service with all seven networks on: `syndicate run` with X, Facebook, Google+,
Mastodon, Threads and LinkedIn on loopback fakes and Bluesky on the real reference PDS
(tests/test_bluesky.py's). On Threads and LinkedIn a quota exhaustion, a 5xx and a dropped
connection each happen on the way, and still each network has the seed article once; `check`
proves each, a replay and a backfill post nothing, and unpublish deletes."""

from __future__ import annotations

import json

import pytest
import requests

from tests.fakes import FakeLinkedIn, FakeMastodon, FakeServers, FakeThreads
from tests.support import FIXTURES, OPERATOR, Run, wait_for
from tests.test_bluesky import INSTALLED, NODE, DroppingProxy, account, pds, records  # noqa: F401

pytestmark = pytest.mark.skipif(
    not (NODE and INSTALLED),
    reason="the reference PDS is not installed: run tests/pds/install.sh (needs node and npm)",
)
SEED = "20230713-0001"
EVERY = ("twitter", "facebook", "googleplus", "mastodon", "bluesky", "threads", "linkedin")


def test_the_seed_is_posted_once_to_each_of_seven_and_unpublish_deletes(tmp_path, pds):  # noqa: F811
    fakes, mastodon, threads, linkedin = (
        FakeServers(),
        FakeMastodon(),
        FakeThreads(),
        FakeLinkedIn(),
    )
    for fake in (fakes, mastodon, threads, linkedin):
        fake.start()
    handle, password, did = account(pds)
    proxy = DroppingProxy(pds)
    threads.quota_duration = 500  # one post's share of the window: 2 s
    linkedin.readable = False  # a token that may post but not read: the duplicate answer decides
    run = Run(
        tmp_path,
        {
            **fakes.environment(),
            **mastodon.environment(),
            **threads.environment(),
            **linkedin.environment(),
            "SYNDICATE_BLUESKY_HANDLE": handle,
            "SYNDICATE_BLUESKY_APP_PASSWORD": password,
            "SYNDICATE_BLUESKY_PDS": proxy.url,
            "SYNDICATE_RETRY_BASE_MS": "200",
        },
    )
    try:
        run.wait_up()
        # Threads: the quota used up at first, then a 5xx on publish, then an answer lost.
        threads.fault("threads.publish", "rate_limit", seconds=3)
        threads.fault("threads.publish", "error", status=502)
        threads.fault("threads.publish", "accept_drop")
        # LinkedIn: a 429, then a 503, then created with the answer lost.
        for kind in ("rate_limit", "error", "accept_drop"):
            linkedin.fault("linkedin.create", kind, status=503)
        seed = json.loads((FIXTURES / "seed-article-published.json").read_text())
        del seed["article"]["share"]["networks"]  # every enabled network
        event = tmp_path / "seed.json"
        event.write_text(json.dumps(seed))
        sent = run.cli("send", str(event))
        assert sent.returncode == 0, sent.stderr

        def shares() -> dict:
            return (
                requests.get(f"{run.base}/articles/{SEED}", headers=OPERATOR, timeout=10)
                .json()
                .get("shares", {})
            )

        def states() -> dict:
            return {n: e.get("state") for n, e in shares().items()}

        wait_for(lambda: states() == dict.fromkeys(EVERY, "sent"), 90, "a post on each network")

        def counts() -> tuple:
            return (
                len(fakes.twitter.posts),
                len(fakes.facebook.posts),
                len(fakes.googleplus.activities),
                len(mastodon.statuses),
                len(records(pds, did)),
                len(threads.media),
                len(linkedin.posts),
            )

        assert counts() == (1,) * 7
        assert not any(
            f["times"] > 0
            for f in threads.route_faults + linkedin.route_faults
            if f["until"] is None
        )  # every fault happened
        # the quota was read before publishing and again after the wait (how many more times
        # depends on how long the machine took to come back to it)
        assert (
            len(threads.received("GET", f"/v1.0/{FakeThreads.USER}/threads_publishing_limit")) >= 2
        )
        assert len(threads.containers) == 1  # one container, published once
        entry = shares()
        [media] = threads.media
        assert entry["threads"]["remote_id"] == media
        assert entry["threads"]["remote_url"] == threads.media[media]["permalink"]
        [urn] = linkedin.posts
        assert entry["linkedin"]["remote_id"] == urn
        assert entry["linkedin"]["remote_url"] == f"https://www.linkedin.com/feed/update/{urn}/"
        assert "duplicate" not in entry["linkedin"].get("last_error", "")

        check = run.cli("check")
        assert f"threads: profile {FakeThreads.USER}: 1 of 250 posts used" in check.stdout
        assert "linkedin: token valid for urn:li:organization:" in check.stdout, check.stdout
        # A replay and a backfill post nothing more.
        assert run.cli("replay").returncode == 0
        archive = tmp_path / "archive.jsonl"
        other = json.loads(json.dumps(seed))
        other["id"], other["article"]["id"] = "evt-archive", "archived-1"
        other["article"]["url"] = "https://news.example.org/news/archived-1.html"
        archive.write_text(json.dumps(other) + "\n")
        assert run.cli("backfill", str(archive)).returncode == 0
        backfilled = requests.get(
            f"{run.base}/articles/archived-1", headers=OPERATOR, timeout=10
        ).json()["shares"]
        assert {e["state"] for e in backfilled.values()} == {"skipped"}

        assert run.cli("send", str(FIXTURES / "seed-article-unpublished.json")).returncode == 0
        wait_for(
            lambda: all(
                states()[n] == "deleted"
                for n in ("twitter", "facebook", "mastodon", "bluesky", "threads", "linkedin")
            ),
            60,
            "the deletes",
        )
        assert threads.media == {} and linkedin.posts == {} and records(pds, did) == []
        assert len(threads.received("POST", f"/v1.0/{FakeThreads.USER}/threads_publish")) == 2
        assert len(linkedin.received("POST", "/rest/posts")) == 4
    finally:
        run.stop()
        proxy.close()
        for fake in (fakes, mastodon, threads, linkedin):
            fake.stop()
