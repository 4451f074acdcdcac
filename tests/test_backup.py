"""Issue #26: `syndicate backup` and `syndicate restore` through the real commands against a real
`syndicate run` and its embedded Redis (a unix socket with a password): back up, stop, wipe,
restore, start; the feeds and the articles are back."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys

import redis
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


def test_an_external_redis_is_backed_up_and_restored_over_tcp_with_its_ttls(tmp_path):
    from syndicate.embedded_redis import EmbeddedRedis
    from tests.support import ROOT, free_port

    server = EmbeddedRedis(tmp_path / "external", port=free_port())
    url = server.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATE_")}
    env.update(SYNDICATE_REDIS_URL=url, SYNDICATE_DATA_DIR=str(tmp_path / "var"))

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "cli", *args],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )

    try:
        r = redis.Redis.from_url(url)
        r.set("syndicate:kept", "yes")
        r.set("syndicate:session", "short-lived", ex=3600)
        r.zadd("syndicate:articles", {"a": 1.0, "b": 2.0})
        backup = tmp_path / "external.rdb"
        assert cli("backup", str(backup)).returncode == 0
        r.set("syndicate:kept", "changed since")
        refused = cli("restore", str(backup))
        assert refused.returncode == 1 and "not empty" in refused.stderr
        assert r.get("syndicate:kept") == b"changed since"  # a refused restore changes nothing
        done = cli("restore", str(backup), "--force")
        assert done.returncode == 0, done.stderr
        assert "3 keys" in done.stdout
        assert r.get("syndicate:kept") == b"yes"
        assert 3500 < r.ttl("syndicate:session") <= 3600 and r.ttl("syndicate:kept") == -1
        assert r.zrange("syndicate:articles", 0, -1, withscores=True) == [(b"a", 1.0), (b"b", 2.0)]
    finally:
        server.stop()
