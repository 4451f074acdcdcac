"""The operator commands, run for real (`python -m cli ...`) against the session's
Redis and worker: backfill, rebuild, replay, status, check; one-line errors, never a traceback."""

from __future__ import annotations

import json
import time

import feedparser

from bench.events import article_event
from feeds.describe import item_id
from tests.fakes import FakeFacebook
from tests.support import SEED_ID, publish, run_cli, send, shares, wait_for, wait_states
from worker.store import keys


def _renders(service) -> float:
    return float(service.redis.hget(keys.COUNTERS, "renders") or 0)


def _feeds(service) -> set[str]:
    return {k.decode() for k in service.redis.smembers(keys.FEEDS)}


def _no_traceback(result) -> None:
    assert "Traceback" not in result.stderr + result.stdout
    assert (
        result.stderr.strip().startswith("Error: ") and len(result.stderr.strip().splitlines()) == 1
    )


def test_backfill_imports_an_archive_renders_each_feed_once_and_shares_nothing(
    service, settings_env, fakes, tmp_path
):
    archive = tmp_path / "archive.jsonl"
    archive.write_text("".join(json.dumps(article_event(n)) + "\n" for n in range(1000)))
    before = _renders(service)
    result = run_cli(settings_env, "backfill", str(archive))
    assert result.returncode == 0, result.stderr
    assert "1000 applied, 0 already current, 0 rejected" in result.stdout
    feeds = _feeds(service)
    assert len(feeds) > 10
    # Each feed once at the end; a feed the 5-second safety mark queued while the import ran
    # (so that an interrupted backfill leaves nothing unannounced) may have had one render then.
    rendered = _renders(service) - before
    assert len(feeds) <= rendered <= 2 * len(feeds)
    service.idle()
    assert _renders(service) - before == rendered  # and the worker rendered nothing besides
    parsed = feedparser.parse(service.feed("all", "atom").content)
    assert parsed.bozo == 0 and len(parsed.entries) == 50
    assert parsed.entries[0].id == item_id("bench-0000999")  # newest published first
    assert [
        fakes.twitter.received("POST"),
        fakes.facebook.received("POST"),
        fakes.googleplus.received("POST"),
    ] == [[], [], []]
    assert {e["state"] for e in shares(service, "bench-0000500").values()} == {"skipped"}
    assert service.redis.zcard(keys.OPEN) == 0
    wait_for(lambda: len(fakes.hub.received("POST")) >= 3 * len(feeds), what="a ping per topic")
    assert len(fakes.hub.received("POST")) <= 3 * rendered  # no more than one per changed render

    again = run_cli(settings_env, "backfill", str(archive))
    assert "0 applied, 1000 already current" in again.stdout
    assert "0 feeds rendered (0 changed)" in again.stdout  # nothing changed, nothing rendered
    service.idle()
    assert len(fakes.hub.received("POST")) == 3 * len(feeds)  # unchanged feeds ping nobody


def test_backfill_names_the_bad_lines_and_keeps_the_good_ones(service, settings_env, tmp_path):
    bad_schema = article_event(1)
    del bad_schema["article"]["title"]
    archive = tmp_path / "archive.jsonl"
    archive.write_text(
        json.dumps(article_event(0)) + "\n{not json\n" + json.dumps(bad_schema) + "\n"
    )
    result = run_cli(settings_env, "backfill", str(archive))
    assert result.returncode == 1
    assert "1 applied, 0 already current, 2 rejected" in result.stdout
    assert "line 2: not JSON" in result.stderr and "line 3: " in result.stderr
    assert "title" in result.stderr
    assert service.client.get("/articles/bench-0000000").status_code == 200
    assert service.client.get("/articles/bench-0000001").status_code == 404


def test_rebuild_restores_a_lost_feed_and_refuses_unknown_keys(service, settings_env):
    publish(service, "seed-article-published")
    good = service.feed("tag/nato", "rss").content
    service.redis.delete(keys.meta_key("tag/nato"), keys.body_key("tag/nato", "rss"))
    lost = feedparser.parse(service.feed("tag/nato", "rss").content)
    assert lost.bozo == 0 and lost.entries == []  # a known feed: empty until rendered again
    result = run_cli(settings_env, "rebuild", "--feed", "tag/nato")
    assert result.returncode == 0 and "1 feeds rendered, 1 changed" in result.stdout
    assert service.feed("tag/nato", "rss").content == good
    everything = run_cli(settings_env, "rebuild")
    assert f"{len(_feeds(service))} feeds rendered, 0 changed" in everything.stdout
    unknown = run_cli(settings_env, "rebuild", "--feed", "tag/../../etc")
    assert unknown.returncode == 1
    _no_traceback(unknown)


def test_replay_retries_dead_letters_once_the_cause_is_fixed(service, settings_env, fakes):
    fakes.twitter.fail_next(
        (
            "answer",
            401,
            {},
            {
                "title": "Unauthorized",
                "type": "about:blank",
                "status": 401,
                "detail": "Unauthorized",
            },
        )
    )
    send(service, "seed-article-published")
    wait_states(service, {"twitter": "failed", "facebook": "sent", "googleplus": "sent"})
    listed = run_cli(settings_env, "replay", "--list")
    assert f"delivery:{SEED_ID}:twitter" in listed.stdout and "401" in listed.stdout
    status = json.loads(run_cli(settings_env, "status", "--json").stdout)
    assert [d["name"] for d in status["dead_letters"]] == [f"delivery:{SEED_ID}:twitter"]
    result = run_cli(settings_env, "replay")
    assert result.returncode == 0 and "1 queued again" in result.stdout
    state = wait_states(service, {"twitter": "sent"})
    assert state["twitter"]["remote_id"]
    assert len(fakes.twitter.received("POST")) == 2  # the refused one and the replayed one
    assert len(fakes.facebook.received("POST", f"/v25.0/{FakeFacebook.PAGE}/feed")) == 1
    assert "0 dead letters" in run_cli(settings_env, "replay", "--list").stdout
    missing = run_cli(settings_env, "replay", "--only", "event:nope")
    assert missing.returncode == 1
    _no_traceback(missing)


def test_replay_reruns_a_failed_event(service, settings_env):
    """An event that failed (here: its stored body was damaged) is re-run once it is repaired."""
    event = publish(service, "seed-article-published")
    service.redis.hset(keys.event_key(event["id"]), mapping={"status": "failed", "error": "boom"})
    service.redis.zadd(keys.DEAD, {f"event:{event['id']}": time.time()})
    assert run_cli(settings_env, "replay").returncode == 0
    assert service.event_done(event["id"])["status"] == "done"
    assert service.redis.zcard(keys.DEAD) == 0


def test_status_shows_queues_workers_events_and_channels(service, settings_env, worker):
    publish(service, "seed-article-published")
    text = run_cli(settings_env, "status").stdout
    for expected in (
        "queues     events 0",
        "workers    test-",
        "twitter    on",
        "article.published",
        SEED_ID,
    ):
        assert expected in text, (expected, text)
    data = json.loads(run_cli(settings_env, "status", "--json").stdout)
    assert set(data["queues"]) == {"events", "deliveries", "pings", "fediverse"}
    assert data["events"][0]["article_id"] == SEED_ID and data["events"][0]["status"] == "done"
    assert data["feeds"] == 8 and data["feeds_to_render"] == 0  # publish() waited for renders
    assert {c["network"]: c["enabled"] for c in data["channels"]} == {
        "twitter": True,
        "facebook": True,
        "googleplus": True,
        "mastodon": False,
        "bluesky": False,
        "threads": False,
        "linkedin": False,
    }  # every network of the registry, on or off


def test_check_reaches_every_remote_and_says_what_is_off(settings_env, fakes):
    result = run_cli(settings_env, "check")
    assert result.returncode == 0, result.stdout
    for name in ("redis", "broker", "twitter", "facebook", "googleplus", f"hub {fakes.hub.url}/"):
        assert any(
            line.startswith("ok") and f" {name}:" in line for line in result.stdout.splitlines()
        ), (name, result.stdout)
    off = run_cli(
        settings_env,
        "check",
        env={
            "SYNDICATE_TWITTER_BEARER_TOKEN": None,
            "SYNDICATE_WEBSUB_HUBS": "http://127.0.0.1:9/",
        },
    )
    assert off.returncode == 1
    assert "off   twitter: off (no credentials)" in off.stdout
    assert "FAIL  hub http://127.0.0.1:9/: unreachable" in off.stdout


def test_user_mistakes_are_one_line_and_a_non_zero_exit(settings_env, tmp_path):
    bad = run_cli(settings_env, "check", env={"SYNDICATE_FEED_SIZE": "lots"})
    assert bad.returncode == 1 and "SYNDICATE_FEED_SIZE" in bad.stderr
    _no_traceback(bad)
    nowhere = run_cli(
        settings_env,
        "status",
        env={"SYNDICATE_REDIS_URL": None, "SYNDICATE_DATA_DIR": str(tmp_path)},
    )
    assert nowhere.returncode == 1 and "no SYNDICATE_REDIS_URL" in nowhere.stderr
    _no_traceback(nowhere)
    down = run_cli(settings_env, "status", env={"SYNDICATE_REDIS_URL": "redis://127.0.0.1:9/0"})
    assert down.returncode == 1 and "unreachable" in down.stderr
    _no_traceback(down)
    missing = run_cli(settings_env, "backfill", str(tmp_path / "nope.jsonl"))
    assert missing.returncode == 2 and "No such file" in missing.stderr
    assert "Traceback" not in missing.stderr
