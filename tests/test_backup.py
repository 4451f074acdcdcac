"""Issue #26: `syndicate backup` and `syndicate restore` through the real commands against a real
`syndicate run` and its embedded Redis (a unix socket with a password): back up, stop, wipe,
restore, start; the feeds and the articles are back."""

from __future__ import annotations

import shutil
import stat

import requests

from tests.support import OPERATOR, SEED_ID, Run, load_fixture, post_event, wait_for


def _in_feed(base: str, key: str, title: str) -> bool:
    r = requests.get(f"{base}/feeds/{key}.atom", timeout=5)
    return r.status_code == 200 and title in r.text


def test_back_up_stop_wipe_restore_start_and_everything_is_back(tmp_path):
    event = load_fixture("seed-article-published")
    title = event["article"]["title"]
    backup = tmp_path / "nightly.rdb"
    run = Run(tmp_path)
    try:
        run.wait_up()
        assert post_event(run.base, event, retry_for=20) == 202
        wait_for(lambda: _in_feed(run.base, "tag/nato", title), 30, "the article in its feed")
        made = run.cli("backup", str(backup))
        assert made.returncode == 0, made.stderr
        assert str(backup.resolve()) in made.stdout and "syndicate restore" in made.stdout
        assert stat.S_IMODE(backup.stat().st_mode) == 0o600
        assert backup.read_bytes()[:5] == b"REDIS"
        again = run.cli("backup", str(backup))  # never overwrites a backup
        assert again.returncode == 1 and "exists" in again.stderr
        refused = run.cli("restore", str(backup))  # the running service's data dir is locked
        assert refused.returncode == 1 and "already running" in refused.stderr
    finally:
        run.stop()
    shutil.rmtree(run.data / "redis")  # the disk died; the secrets come from the environment

    restored = run.cli("restore", str(backup))
    assert restored.returncode == 0, restored.stderr
    assert "keys from" in restored.stdout
    twice = run.cli("restore", str(backup))
    assert twice.returncode == 1 and "not empty" in twice.stderr and "--force" in twice.stderr
    not_a_backup = tmp_path / "notes.txt"
    not_a_backup.write_text("hello")
    wrong = run.cli("restore", str(not_a_backup), "--force")
    assert wrong.returncode == 1 and "not a Redis snapshot" in wrong.stderr

    back = Run(tmp_path)
    try:
        back.wait_up()
        assert _in_feed(back.base, "tag/nato", title)
        assert _in_feed(back.base, "all", title)
        article = requests.get(f"{back.base}/articles/{SEED_ID}", headers=OPERATOR, timeout=5)
        assert article.status_code == 200 and article.json()["state"] == "published"
        # the event id is remembered too: the CMS sending it again changes nothing
        assert post_event(back.base, event, retry_for=10) == 200
    finally:
        out, err = back.stop()
    assert back.proc.returncode == 0 and "Traceback" not in err
