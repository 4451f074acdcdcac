"""`syndicate run`'s embedded Redis, locked and supervised (issue #20, items 3 and 10), and the
README's ACL for an external Redis. Real processes: `syndicate run`, redis-server, the worker.

One `run` serves the first tests in order (a start costs seconds): its Redis has no TCP port,
an owner-only socket, a password nobody prints, no CONFIG/MODULE/DEBUG; events go end to end;
SIGKILLed, it is started again and serves; SIGTERM stops all of it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import stat
import subprocess
from pathlib import Path

import pytest
import redis
import requests
from starlette.testclient import TestClient

from syndicate.config import Settings
from syndicate.connections import celery_broker, with_password
from syndicate.embedded_redis import redis_server_binary
from syndicate.process import die_with_parent, stop
from tests.support import FIXTURES, OPERATOR, PUBLIC_URL, ROOT, Run, free_port, wait_for

SEED = json.loads((FIXTURES / "seed-article-published.json").read_text())
LISTEN = "0A"  # the TCP state in /proc/net/tcp{,6}


def _redis_pid(socket_path: Path) -> int | None:
    """The redis-server serving `socket_path` (it writes the socket into its process title)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "redis-server" in cmdline and str(socket_path) in cmdline:
            return int(proc.name)
    return None


def _socket_inodes(pid: int) -> set[str]:
    out = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            out.add(target[len("socket:[") : -1])
    return out


def _listening_tcp_inodes() -> set[str]:
    out = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == LISTEN:
                out.add(fields[9])
    return out


def _all_cmdlines() -> str:
    out = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                out.append((proc / "cmdline").read_bytes().decode(errors="replace"))
            except OSError:
                pass
    return "\n".join(out)


def _write_event(tmp: Path, name: str, tag: str) -> Path:
    event = json.loads(json.dumps(SEED))
    event["id"] = f"evt-{name}"
    event["article"].update(id=name, url=f"https://news.example.org/{name}.html", tags=[tag])
    event["article"]["share"]["networks"] = []
    path = tmp / f"{name}.json"
    path.write_text(json.dumps(event))
    return path


def _entries(base: str, key: str) -> int:
    r = requests.get(f"{base}/feeds/{key}.json", timeout=5)
    return len(r.json()["items"]) if r.status_code == 200 else -1


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    run = Run(tmp_path_factory.mktemp("embedded"))
    try:
        run.wait_up()
        yield run
    finally:
        if run.proc.poll() is None:
            run.stop()


def _paths(run: Run) -> tuple[Path, Path]:
    redis_dir = run.data.resolve() / "redis"
    return redis_dir, redis_dir / "redis.sock"


def _password(run: Run) -> str:
    return (_paths(run)[0] / "password").read_text().strip()


def test_the_embedded_redis_has_no_tcp_port_and_an_owner_only_socket(running):
    redis_dir, sock = _paths(running)
    pid = _redis_pid(sock)
    assert pid is not None, "a redis-server on DATA_DIR/redis/redis.sock"
    assert not _socket_inodes(pid) & _listening_tcp_inodes(), "redis-server listens on TCP"
    assert "port=0" in (redis_dir / "redis.log").read_text()
    mode = sock.stat()
    assert stat.S_ISSOCK(mode.st_mode) and stat.S_IMODE(mode.st_mode) == 0o700
    assert mode.st_uid == os.getuid()
    for path in (running.data, redis_dir):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    for name in ("password", "redis.conf"):
        assert stat.S_IMODE((redis_dir / name).stat().st_mode) == 0o600, name
    run_file = json.loads((running.data / "run.json").read_text())
    assert run_file["redis_url"] == f"unix://{sock}?db=0"  # the URL without the password


def test_config_module_and_debug_are_unknown_and_a_password_is_required(running):
    _, sock = _paths(running)
    with redis.Redis(unix_socket_path=str(sock), socket_timeout=5) as stranger:
        with pytest.raises(redis.AuthenticationError):
            stranger.ping()
    with redis.Redis(
        unix_socket_path=str(sock), password=_password(running), socket_timeout=5
    ) as r:
        assert r.ping()
        for command in (
            ("CONFIG", "SET", "dir", "/tmp"),
            ("CONFIG", "GET", "dir"),
            ("MODULE", "LOAD", "/tmp/x.so"),
            ("MODULE", "LIST"),
            ("DEBUG", "SLEEP", "0"),
        ):
            with pytest.raises(redis.ResponseError, match="unknown command"):
                r.execute_command(*command)
        # What the service needs stays: INFO (check) and BGREWRITEAOF (purge).
        assert r.info("persistence")["aof_enabled"] == 1
        assert r.bgrewriteaof()


def test_events_go_end_to_end_and_the_password_is_never_shown(running, tmp_path):
    sent = running.cli("send", str(FIXTURES / "seed-article-published.json"))
    assert sent.returncode == 0 and sent.stdout.startswith("202 "), sent.stdout + sent.stderr
    wait_for(lambda: _entries(running.base, "tag/nato") >= 1, 30, "the seed in tag/nato")
    status = running.cli("status", "--json")
    assert status.returncode == 0, status.stderr
    check = running.cli("check")
    assert "ok    redis: reachable, appendonly=yes" in check.stdout, check.stdout
    assert "ok    broker: reachable (redis+socket)" in check.stdout, check.stdout
    password = _password(running)
    redis_dir, _ = _paths(running)
    for text in (
        status.stdout,
        status.stderr,
        check.stdout,
        check.stderr,
        sent.stdout,
        _all_cmdlines(),
        (running.data / "run.json").read_text(),
        (running.data / "worker.log").read_text(),
        (redis_dir / "redis.log").read_text(),
    ):
        assert password not in text
    # Nothing stored in Redis (broker messages, published configuration) carries it either.
    for aof in redis_dir.glob("appendonly*"):
        if aof.is_file():
            assert password.encode() not in aof.read_bytes()


def test_a_killed_redis_is_started_again_and_serves(running, tmp_path):
    _, sock = _paths(running)
    before = _redis_pid(sock)
    assert before is not None
    os.kill(before, signal.SIGKILL)  # no shutdown, no final AOF flush
    wait_for(lambda: _redis_pid(sock) not in (None, before), 30, "a new redis-server")
    wait_for(
        lambda: requests.get(running.base + "/healthz", timeout=5).status_code == 200,
        30,
        "liveness again",
    )
    event = _write_event(tmp_path, "after-kill", "afterkill")
    sent = running.cli("send", str(event))
    assert sent.returncode == 0 and sent.stdout.startswith("202 "), sent.stdout + sent.stderr
    wait_for(lambda: _entries(running.base, "tag/afterkill") == 1, 60, "the event after the kill")
    assert _entries(running.base, "tag/nato") >= 1  # what was there before, from the AOF
    assert running.cli("status").returncode == 0  # operator commands find the new one too


def test_sigterm_stops_redis_and_the_output_has_no_password(running):
    _, sock = _paths(running)
    pid = _redis_pid(sock)
    password = _password(running)
    out, err = running.stop()
    assert running.proc.returncode == 0, out + err
    assert "redis-server exited" in out + err  # the restart above was told, in one line
    assert password not in out + err
    assert f"unix://{sock}?db=0" in out
    assert (
        pid is None
        or not os.path.exists(f"/proc/{pid}")
        or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
    )


def test_a_unix_url_is_kombus_redis_socket_with_its_password_and_database():
    url = with_password("unix:///d/redis.sock?db=2", "p/w")
    assert url == "unix://:p%2Fw@/d/redis.sock?db=2"
    assert celery_broker(url) == ("redis+socket://:p%2Fw@/d/redis.sock?virtual_host=2", {})
    assert celery_broker("unix:///d/redis.sock")[0] == "redis+socket:///d/redis.sock?virtual_host=0"


# Liveness while Redis is down --------------------------------------------------------------------
def test_healthz_and_the_feed_index_answer_503_while_redis_is_down(settings: Settings, tmp_path):
    from api.app import create_app

    dead = settings.with_(redis_url=f"unix://{tmp_path}/nothing.sock?db=0", broker_url=None)
    with TestClient(create_app(dead), base_url=PUBLIC_URL) as client:
        r = client.get("/healthz")
        assert r.status_code == 503 and r.json() == {"status": "unavailable"}  # no details
        assert client.get("/feeds/").status_code == 503
        assert client.get("/feeds/all.atom").status_code == 503


# The README's ACL for an external Redis ------------------------------------------------------------
def _readme_acl(password: str) -> list[str]:
    readme = (ROOT / "docs" / "security.md").read_text()
    line = re.search(r"^ACL SETUSER syndicate .*$", readme, re.M)
    assert line, "README documents the ACL user"
    return [w.replace("PASSWORD", password) for w in shlex.split(line.group(0))]


def test_run_works_on_a_redis_that_allows_only_the_readmes_acl(tmp_path):
    """`run` (API, worker with its renderer), `send`, `status`, `check` and the feed pages
    against a Redis whose `syndicate` user has exactly the README's ACL: nothing is refused
    but the connection metadata the README names."""
    port = free_port()
    folder = tmp_path / "acl-redis"
    folder.mkdir()
    server = subprocess.Popen(
        [
            redis_server_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "yes",
            "--dir",
            str(folder),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=die_with_parent,
    )
    admin = redis.Redis(port=port, socket_timeout=5)
    run = None
    try:
        wait_for(lambda: _pings(admin), 15, "the external redis-server")
        password = "acl-test-password-0123456789"
        admin.execute_command(*_readme_acl(password))
        run = Run(
            tmp_path, {"SYNDICATE_REDIS_URL": f"redis://syndicate:{password}@127.0.0.1:{port}/0"}
        )
        run.wait_up()
        sent = run.cli("send", str(_write_event(tmp_path, "acl", "acl")), "--url", run.base)
        assert sent.returncode == 0 and sent.stdout.startswith("202 "), sent.stdout + sent.stderr
        wait_for(lambda: _entries(run.base, "tag/acl") == 1, 30, "the event in tag/acl")
        assert requests.get(run.base + "/feeds/", timeout=5).status_code == 200
        assert requests.get(run.base + "/", headers=OPERATOR, timeout=5).status_code == 200
        assert requests.get(run.base + "/metrics", headers=OPERATOR, timeout=5).status_code == 200
        assert run.cli("status").returncode == 0
        check = run.cli("check")
        assert "ok    redis: reachable, appendonly=yes" in check.stdout, check.stdout
        refused = [
            e
            for e in admin.execute_command("ACL", "LOG")
            if e[b"username"] == b"syndicate" and e[b"object"] != b"client"
        ]
        assert refused == [], refused
    finally:
        if run is not None:
            run.stop()
        admin.close()
        stop(server)


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False
