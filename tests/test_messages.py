"""Issue #26 item 5: the operator commands' messages say what happened and what to do, through
the real `syndicate` command (`run_cli`) against the real service."""

from __future__ import annotations

import json

from tests.support import FIXTURES, load_fixture, publish, run_cli


def test_send_points_a_url_without_scheme_and_many_events_to_the_right_command(
    tmp_path, settings_env
):
    seed = str(FIXTURES / "seed-article-published.json")
    r = run_cli(settings_env, "send", seed, "--url", "127.0.0.1:8000")
    assert r.returncode == 1 and "did you mean http://127.0.0.1:8000" in r.stderr
    assert "is `syndicate run` running?" not in r.stderr
    event = load_fixture("seed-article-published")
    archive = tmp_path / "archive.jsonl"
    archive.write_text(json.dumps(event) + "\n" + json.dumps({**event, "id": "evt-2"}) + "\n")
    r = run_cli(settings_env, "send", str(archive))
    assert r.returncode == 1 and "more than one JSON document" in r.stderr
    assert f"syndicate backfill {archive}" in r.stderr and "Extra data" not in r.stderr
    array = tmp_path / "events.json"
    array.write_text(json.dumps([event, event]))
    r = run_cli(settings_env, "send", str(array))
    assert r.returncode == 1 and "holds a JSON array (2 items)" in r.stderr
    assert "backfill" in r.stderr and 'no "id" field' not in r.stderr
    assert "Traceback" not in r.stderr


def test_rebuild_of_a_bare_name_suggests_the_feed_key(service, settings_env):
    publish(service, "seed-article-published")
    for typed in ("nato", "NATO", "tag/NATO"):
        r = run_cli(settings_env, "rebuild", "--feed", typed)
        assert r.returncode == 1 and "did you mean tag/nato?" in r.stderr, (typed, r.stderr)
    r = run_cli(settings_env, "rebuild", "--feed", "zzzz")
    assert r.returncode == 1 and "feed keys look like tag/nato" in r.stderr


def test_purging_an_already_purged_article_says_so(service, settings_env):
    article_id = publish(service, "seed-article-published")["article"]["id"]
    first = run_cli(settings_env, "purge", article_id, "--yes")
    assert first.returncode == 0 and f"purged {article_id}: every copy checked" in first.stdout
    store = service.client.app.state.runtime.store
    finished = store.takedowns.get(article_id)
    again = run_cli(settings_env, "purge", article_id, "--yes")
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"{article_id} is already purged (" in again.stdout
    assert "nothing done (pass --again to run the takedown again" in again.stdout
    assert f"purged {article_id}: every copy checked" not in again.stdout
    assert store.takedowns.get(article_id) == finished  # nothing queued, nothing changed
