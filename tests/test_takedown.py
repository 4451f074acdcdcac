"""Takedowns (`syndicate purge`) through the real service: carried out by the workers with the
service's configuration whatever the operator's shell holds, every copy gone (Redis, the static
export, hubs told, feeds named after the person, the append-only file), final until an audited
`unpurge`. And the export never holds a retraction back."""

from __future__ import annotations

import copy
import gzip
import os
import subprocess
import sys

import requests

from feeds.describe import item_id
from feeds.render import item_ids
from tests.fakes import FakeHub
from tests.support import (
    OPERATOR,
    ROOT,
    Run,
    event_status,
    load_fixture,
    post_event,
    publish,
    wait_for,
)

PERSON_ID = "takedown-0001"
PERSON_TITLE = "Jane Roe affair: the full story"


def _person_event(version: int = 1, event_id: str = "evt-takedown-1") -> dict:
    event = copy.deepcopy(load_fixture("seed-article-published"))
    event["id"] = event_id
    article = event["article"]
    article.update(
        id=PERSON_ID,
        version=version,
        title=PERSON_TITLE,
        url="https://news.example.org/news/jane-roe-affair.html",
        tags=["Jane Roe affair", "NATO"],
        authors=[{"name": "Jane Roe", "slug": "jane-roe"}],
    )
    article["updated_at"] = f"2023-07-13T18:0{version}:00Z"
    return event


def _second_terminal(data_dir, *args: str) -> subprocess.CompletedProcess:
    """The operator's other shell: only the data directory, none of the service's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATE_")}
    env["SYNDICATE_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=200,
    )


def _exported(export, key: str) -> dict[str, bytes]:
    out = {}
    for fmt in ("rss", "atom", "json"):
        path = export / "feeds" / f"{key}.{fmt}"
        if path.exists():
            out[fmt] = path.read_bytes()
        gz = path.with_name(path.name + ".gz")
        if gz.exists():
            out[fmt + ".gz"] = gzip.decompress(gz.read_bytes())
    return out


def test_a_purge_typed_anywhere_takes_every_copy_down_and_stays_final(tmp_path):
    hub = FakeHub()
    hub.start()
    export = tmp_path / "export"
    run = Run(
        tmp_path,
        {
            "SYNDICATE_EXPORT_DIR": str(export),
            "SYNDICATE_SITE_TITLE": "Daily Paper",
            "SYNDICATE_FEED_SIZE": "20",
            "SYNDICATE_WEBSUB_HUBS": hub.url,
        },
    )
    try:
        run.wait_up()
        other = load_fixture("seed-article-published")
        assert post_event(run.base, other) == 202
        assert post_event(run.base, _person_event()) == 202
        person_feeds = ("tag/jane-roe-affair", "author/jane-roe")
        wait_for(
            lambda: all(
                PERSON_TITLE.encode() in _exported(export, k).get("atom", b"")
                for k in (*person_feeds, "all", "tag/nato")
            ),
            30,
            "the export",
        )
        wait_for(lambda: len(hub.pinged_urls()) >= 3, 30, "the first pings")
        pinged_before = len(hub.pinged_urls())

        result = _second_terminal(run.data, "purge", PERSON_ID, "--yes")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "every copy checked" in result.stdout
        assert "feeds removed (left empty): 2" in result.stdout

        ident = item_id(PERSON_ID)
        for key in (
            "all",
            "tag/nato",
            "section/news",
            "section/news/lithuania",
            "author/news-desk",
        ):
            files = _exported(export, key)
            assert set(files) == {"rss", "atom", "json", "rss.gz", "atom.gz", "json.gz"}, key
            for name, data in files.items():
                assert ident not in item_ids(name.removesuffix(".gz"), data), (key, name)
                assert PERSON_TITLE.encode() not in data, (key, name)
            # rendered by the service: its title, not the operator's shell's default
            assert b"Daily Paper" in files["atom"], key
            served = requests.get(
                f"{run.base}/feeds/{key}.atom", timeout=5, headers={"Accept-Encoding": "identity"}
            )
            assert served.content == files["atom"]
        for key in person_feeds:  # named after the person: gone, not empty
            assert _exported(export, key) == {}, key
            for fmt in ("rss", "atom", "json"):
                assert requests.get(f"{run.base}/feeds/{key}.{fmt}", timeout=5).status_code == 404
        opml = requests.get(f"{run.base}/feeds.opml", timeout=5).text
        assert "jane-roe" not in opml
        # the hubs were told of every feed that changed
        wait_for(
            lambda: (
                f"{run.base}/feeds/all.atom" in hub.pinged_urls()[pinged_before:]
                or any(u.endswith("/feeds/all.atom") for u in hub.pinged_urls()[pinged_before:])
            ),
            15,
            "a ping after the purge",
        )
        # the append-only file on disk was rewritten without it
        logs = [p for p in (run.data / "redis").rglob("*") if p.is_file() and "aof" in p.name]
        assert logs and not any(PERSON_TITLE.encode() in p.read_bytes() for p in logs)

        # A later version from the CMS does not bring it back...
        assert post_event(run.base, _person_event(5, "evt-takedown-5")) == 202
        wait_for(lambda: event_status(run.base, "evt-takedown-5") == "done", 15, "the event")
        record = requests.get(f"{run.base}/events/evt-takedown-5", headers=OPERATOR, timeout=5)
        assert record.json()["result"]["outcome"] == "purged"
        all_feed = requests.get(f"{run.base}/feeds/all.atom", timeout=5).content
        assert ident not in item_ids("atom", all_feed)
        # ...until an operator un-purges it (audited); then the CMS's next event applies.
        undone = _second_terminal(run.data, "unpurge", PERSON_ID, "--reason", "order lifted")
        assert undone.returncode == 0, undone.stderr
        assert post_event(run.base, _person_event(6, "evt-takedown-6")) == 202
        wait_for(lambda: event_status(run.base, "evt-takedown-6") == "done", 15, "the event")
        applied = requests.get(f"{run.base}/events/evt-takedown-6", headers=OPERATOR, timeout=5)
        assert applied.json()["result"]["outcome"] == "applied", applied.json()
        wait_for(
            lambda: (
                ident
                in item_ids("atom", requests.get(f"{run.base}/feeds/all.atom", timeout=5).content)
            ),
            15,
            "the article back",
        )
        again = _second_terminal(run.data, "unpurge", PERSON_ID, "--reason", "twice")
        assert again.returncode == 1 and "not purged" in again.stderr
    finally:
        run.stop()
        hub.stop()


def test_a_purge_says_what_it_could_not_delete(service, settings_env, fakes):
    """Google+ has no delete: the operator is told to remove that post by hand, not that it
    was deleted."""
    from tests.support import run_cli

    publish(service, "seed-article-published")
    seed = load_fixture("seed-article-published")["article"]["id"]
    wait_for(lambda: fakes.googleplus.activities, 15, "the Google+ post")
    result = run_cli(settings_env, "purge", seed, "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "post on googleplus: cannot be deleted through its API: remove it by hand" in result.stdout
    )
    assert "post on twitter: deletion queued" in result.stdout


def test_a_retraction_is_served_even_when_its_export_cannot_be_written(service, settings, tmp_path):
    """The export failing (here a feed's folder is a file) never holds the primary store back:
    the retraction is published at once; the export is retried on its own, says why, and
    writes the current bytes once it can."""
    from worker import rendering
    from worker.runtime import Runtime

    publish(service, "seed-article-published")
    seed = load_fixture("seed-article-published")["article"]["id"]
    export = tmp_path / "export"
    (export / "feeds").mkdir(parents=True)
    (export / "feeds" / "tag").write_text("not a folder")
    rt = Runtime(settings.with_(export_dir=export))
    service.client.app  # noqa: B018 - the service is up
    event = load_fixture("seed-article-unpublished")
    assert service.send(event).status_code == 202
    service.event_done(event["id"])
    outcome = rendering.render_and_save(rt, "tag/nato")
    assert not outcome.failed and not outcome.announce  # published, not exported, no ping yet
    served = service.feed("tag/nato", "atom").content
    assert item_id(seed) not in item_ids("atom", served)  # the retraction is served
    assert rt.store.exports.error("tag/nato").startswith("export: NotADirectoryError")
    (export / "feeds" / "tag").unlink()
    outcome = rendering.render_and_save(rt, "tag/nato")  # the scheduled retry's render
    assert outcome.announce and not rt.store.exports.error("tag/nato")
    assert (export / "feeds" / "tag" / "nato.atom").read_bytes() == served


def test_article_ids_that_look_like_key_suffixes_keep_their_own_records(service):
    """`x:rendered` and `x:events` are ids of their own, not other keys of article `x`."""
    base = load_fixture("seed-article-published")
    for n, suffix in enumerate(("", ":rendered", ":events")):
        event = copy.deepcopy(base)
        event["id"] = f"evt-suffix-{n}"
        event["article"].update(
            id="x" + suffix,
            title=f"Story x{suffix or ' plain'}",
            url=f"https://news.example.org/x{n}.html",
        )
        assert service.send(event).status_code == 202
        service.event_done(event["id"])
    service.settle()
    ids = item_ids("atom", service.feed("all", "atom").content)
    assert {item_id("x"), item_id("x:rendered"), item_id("x:events")} <= ids
    for suffix in ("", ":rendered", ":events"):
        record = service.client.get(f"/articles/x{suffix}").json()
        assert record["state"] == "published"
        assert record["article"]["title"] == f"Story x{suffix or ' plain'}"


def test_a_takedown_can_be_run_again_on_a_purged_article(service, settings_env):
    """`purge --again` removes whatever is left and checks every copy once more (a tombstone
    has no feeds left: nothing to watch, nothing to render)."""
    from tests.support import run_cli

    publish(service, "seed-article-published")
    seed = load_fixture("seed-article-published")["article"]["id"]
    assert run_cli(settings_env, "purge", seed, "--yes").returncode == 0
    again = run_cli(settings_env, "purge", seed, "--yes", "--again")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "every copy checked" in again.stdout


def test_a_takedown_step_that_keeps_failing_ends_incomplete_not_retried_for_ever(service, settings):
    """Past twice its deadline, a step that raised ends the takedown `incomplete` with the
    reason (masked) instead of scheduling itself again."""
    import time

    from worker import takedown
    from worker.runtime import Runtime
    from worker.store import keys
    from worker.store.takedowns import takedown_key

    rt = Runtime(settings)
    rt.store.takedowns.request("stuck-1")
    assert takedown.step_failed(rt, "stuck-1", "RuntimeError: boom") == "retry"
    assert service.redis.zcard(keys.SCHEDULE) == 1
    service.redis.hset(
        takedown_key("stuck-1"), "requested_at", f"{time.time() - 3 * takedown.DEADLINE_S:.3f}"
    )
    assert takedown.step_failed(rt, "stuck-1", "RuntimeError: boom") == "incomplete"
    record = rt.store.takedowns.get("stuck-1")
    assert record["state"] == "incomplete" and record["report"]["error"] == "RuntimeError: boom"
    assert service.redis.zcard(keys.SCHEDULE) == 1  # not scheduled again
