"""Issue #14 as observed, through the real commands: one service per data dir, binds checked
first, a quiet start, `check` and `status` that prove something and read the service's own
configuration, `send` errors with a next step, `--version`, and the newcomer's tour in headless
Chromium (start, send, see the headline, retry a failure from the page, stop)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.browser import Browser
from tests.fakes import FakeServers
from tests.support import (
    ADMIN_TOKEN,
    FIXTURES,
    OPERATOR,
    ROOT,
    SEED_ID,
    Run,
    api_process,
    free_port,
    load_fixture,
    publish,
    run_cli,
    send,
    signed_headers,
    wait_for,
    wait_states,
)
from worker.store import keys

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def own_fakes():
    servers = FakeServers()
    servers.start()
    yield servers
    servers.stop()


def test_a_second_run_on_the_same_data_dir_touches_nothing(tmp_path):
    first = Run(tmp_path)
    try:
        first.wait_up()
        run_json = (first.data / "run.json").read_text()
        second = Run(tmp_path)
        out, err = second.proc.communicate(timeout=60)
        assert second.proc.returncode == 1
        assert err.strip().count("\n") == 0 and "already running" in err
        assert f"pid {first.proc.pid}" in err and first.base in err
        assert "secret" not in out and out == ""  # no banner, nothing started
        assert (first.data / "run.json").read_text() == run_json  # still there, still first's
        assert first.cli("status").returncode == 0  # the first is still found
    finally:
        out, err = first.stop()
    assert first.proc.returncode == 0
    assert not (first.data / "run.json").exists()  # the owner removes it


def test_a_port_in_use_is_one_line_before_anything_starts(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        run = Run(tmp_path, port=taken.getsockname()[1])
        out, err = run.proc.communicate(timeout=60)
    assert run.proc.returncode == 1
    assert err.strip().count("\n") == 0 and "cannot listen on" in err and "--port" in err
    assert not (run.data / "redis").exists()  # Redis was never started


def test_start_is_one_line_per_fact_and_stop_is_quiet(tmp_path):
    run = Run(tmp_path)
    try:
        run.wait_up()
    finally:
        out, err = run.stop()
    lines = out.strip().splitlines()
    assert all(line.startswith("syndicate: ") for line in lines), out
    assert "celery" not in out.lower() and "SecurityWarning" not in out + err
    assert "scheduler tick failed" not in out + err and "Traceback" not in out + err
    assert (
        "celery@" in (run.data / "worker.log").read_text()
        or "ready" in (run.data / "worker.log").read_text()
    )


def test_check_proves_each_piece_and_reads_the_running_service(tmp_path, own_fakes):
    run = Run(tmp_path, own_fakes.environment())
    try:
        run.wait_up()
        ok = run.cli("check")
        assert ok.returncode == 0, ok.stdout
        lines = {line.split(":", 1)[0].split()[-1]: line for line in ok.stdout.splitlines()}
        assert "authenticated as @newsroom" in lines["twitter"]
        assert "Page token for Test Page" in lines["facebook"]
        assert lines["service"].startswith("ok")
        assert lines["secret"].startswith("ok")  # the service's, though this shell has none?
        bare = {k: v for k, v in run.env.items() if not k.startswith("SYNDICATE_")}
        bare["SYNDICATE_DATA_DIR"] = run.env["SYNDICATE_DATA_DIR"]
        shell = subprocess.run(
            [sys.executable, "-m", "cli", "check"],
            env=bare,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert "webhook secret: set" in shell.stdout  # not "not set": the service has one
        assert "on in the running service" in shell.stdout  # networks: the service's view
        status = json.loads(
            subprocess.run(
                [sys.executable, "-m", "cli", "status", "--json"],
                env=bare,
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=120,
            ).stdout
        )
        assert {c["network"]: c["enabled"] for c in status["channels"]} == {
            "facebook": True,
            "googleplus": True,
            "twitter": True,
            "mastodon": False,
            "bluesky": False,
            "threads": False,
            "linkedin": False,
        }
        wrong = run.cli("check", env={"SYNDICATE_TWITTER_BEARER_TOKEN": "not-the-token"})
        assert wrong.returncode == 1 and "FAIL  twitter:" in wrong.stdout
    finally:
        run.stop()


def test_check_without_any_redis_fails(tmp_path, settings_env):
    result = run_cli(
        settings_env,
        "check",
        env={"SYNDICATE_REDIS_URL": None, "SYNDICATE_DATA_DIR": str(tmp_path)},
    )
    assert result.returncode == 1 and "FAIL  redis: no Redis" in result.stdout


def test_send_says_what_is_wrong_and_what_to_do(tmp_path, settings_env):
    bad = tmp_path / "bad.json"
    bad.write_text('{"type": "article.published",\n  "article": {"id": "x",}\n}')
    r = run_cli(settings_env, "send", str(bad))
    assert r.returncode == 1 and "is not valid JSON" in r.stderr and "line 2, column" in r.stderr
    seed = str(FIXTURES / "seed-article-published.json")
    nobody = run_cli(settings_env, "send", seed, "--url", f"http://127.0.0.1:{free_port()}")
    assert nobody.returncode == 1 and "is `syndicate run` running?" in nobody.stderr
    assert "Traceback" not in r.stderr + nobody.stderr


def test_send_with_the_wrong_secret_explains(tmp_path):
    run = Run(tmp_path)
    try:
        run.wait_up()
        other = "whsec_" + "b3RoZXItc2VjcmV0LTAxMjM0NTY3ODlhYmNkZWZnaGlq"
        r = run.cli(
            "send",
            str(FIXTURES / "seed-article-published.json"),
            env={"SYNDICATE_WEBHOOK_SECRET": other},
        )
        assert r.returncode == 1 and "does not match the service's secret" in r.stderr
    finally:
        run.stop()


def test_version_and_help_with_examples(settings_env):
    version = run_cli(settings_env, "--version")
    assert version.returncode == 0 and version.stdout.startswith("syndicate, version ")
    help_ = run_cli(settings_env, "--help").stdout
    assert "Examples:" in help_ and "SYNDICATE_REDIS_URL" in help_


def test_init_writes_an_owner_only_env_with_fresh_secrets(tmp_path, settings_env):
    path = tmp_path / ".env"
    assert run_cli(settings_env, "init", str(path)).returncode == 0
    text = path.read_text()
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    values = dict(line.split("=", 1) for line in text.splitlines() if line and line[0] != "#")
    assert values["SYNDICATE_WEBHOOK_SECRET"].startswith("whsec_")
    assert len(values["SYNDICATE_ADMIN_TOKEN"]) >= 24
    assert "# SYNDICATE_FEED_SIZE=50" in text and "# SYNDICATE_FACEBOOK_PAGE_ID=" in text
    again = run_cli(settings_env, "init", str(path))
    assert again.returncode == 1 and "--force" in again.stderr
    other = tmp_path / "other.env"
    run_cli(settings_env, "init", str(other))
    assert other.read_text() != text  # fresh each time


@pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (Debian: apt install chromium)"
)
def test_the_newcomers_tour_in_headless_chromium(tmp_path, own_fakes):
    """The README's tour: start, send, see the headline on the status page, retry a failure
    from the page, stop; at phone and desktop width, nothing cut off."""
    fakes = own_fakes
    run = Run(tmp_path, fakes.environment())
    browser = None
    try:
        run.wait_up()
        fakes.twitter.fail_next(
            ("answer", 401, {}, {"title": "Unauthorized", "status": 401, "detail": "Unauthorized"})
        )
        sent = run.cli("send", str(FIXTURES / "seed-article-published.json"))
        assert sent.returncode == 0 and sent.stdout.startswith("202 "), sent.stderr

        def dead() -> list:
            return (
                requests.get(run.base + "/articles/20230713-0001", headers=OPERATOR, timeout=5)
                .json()
                .get("shares", {})
                .get("twitter", {})
                .get("state")
            )

        wait_for(lambda: dead() == "failed", 30, "the refused tweet")
        browser = Browser(CHROMIUM, tmp_path / "profile", 390, 844)
        browser.goto(f"{run.base}/login?next=/#token={ADMIN_TOKEN}")
        title = json.loads((FIXTURES / "seed-article-published.json").read_text())["article"][
            "title"
        ]
        assert title in browser.text("#events")
        assert "token expired" in browser.text("#dead")
        for width in (390, 1280):
            browser.set_size(width, 900)
            assert browser.overflowing() == [], width
            browser.screenshot(tmp_path / f"status-{width}.png")
        browser.set_size(390, 844)
        browser.click("form.retry button")
        assert "Retrying delivery:20230713-0001:twitter" in browser.text("#retried")
        wait_for(lambda: dead() == "sent", 30, "the tweet after Retry")
        assert len(fakes.twitter.posts) == 1
        browser.goto(run.base + "/")
        assert "Nothing failed." in browser.evaluate("document.body.innerText")
        browser.goto(f"{run.base}/status/articles/20230713-0001")
        assert title in browser.text("h1") and "twitter: sent" in browser.text("#timeline")
        assert browser.overflowing() == []
    finally:
        if browser is not None:
            browser.close()
        out, err = run.stop()
    assert run.proc.returncode == 0 and "Traceback" not in err
    assert (tmp_path / "status-390.png").read_bytes()[:4] == b"\x89PNG"


def test_a_replayed_failure_that_fails_again_stays_a_dead_letter(service, settings_env, fakes):
    refused = (
        "answer",
        401,
        {},
        {"title": "Unauthorized", "status": 401, "detail": "Unauthorized"},
    )
    fakes.twitter.fail_path("POST", "/2/tweets", refused, times=2)
    send(service, "seed-article-published")
    wait_states(service, {"twitter": "failed"})
    name = f"delivery:{SEED_ID}:twitter"
    assert run_cli(settings_env, "replay").returncode == 0
    assert service.redis.zscore(keys.DEAD, name) is not None  # listed while it is retried
    wait_for(lambda: len(fakes.twitter.received("POST")) == 2, 20, "the replayed attempt")
    service.idle()
    assert service.redis.zscore(keys.DEAD, name) is not None  # failed again: still there
    assert "Unauthorized" in run_cli(settings_env, "replay", "--list").stdout
    assert run_cli(settings_env, "replay").returncode == 0
    wait_states(service, {"twitter": "sent"})
    assert service.redis.zscore(keys.DEAD, name) is None  # left only when it worked


def test_a_hub_answering_5xx_fails_check(settings_env, fakes):
    fakes.hub.fail_path("POST", "/", ("answer", 501, {}, b"not implemented"))
    result = run_cli(settings_env, "check")
    assert result.returncode == 1 and "answers HTTP 501: it will not take pings" in result.stdout
    fakes.reset()


def test_the_json_api_speaks_iso_times_and_numbers(service):
    seed = publish(service, "seed-article-published")
    event = service.client.get(f"/events/{seed['id']}").json()
    assert event["received_at"].endswith("Z") and "T" in event["received_at"]
    assert isinstance(event["attempts"], int)
    shares = service.client.get(f"/articles/{SEED_ID}").json()["shares"]
    assert all(
        isinstance(s["attempts"], int) and s["created_at"].endswith("Z") for s in shares.values()
    )


def test_a_trace_runs_from_intake_to_the_posts_and_the_logs(service, fakes, worker):
    seed = load_fixture("seed-article-published")
    incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    body = json.dumps(seed).encode()
    r = service.client.post(
        "/events",
        content=body,
        headers={**signed_headers(seed["id"], body), "traceparent": incoming},
    )
    assert r.headers["traceparent"].startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-")
    wait_states(service, {"twitter": "sent", "facebook": "sent", "googleplus": "sent"})
    for fake in (fakes.twitter, fakes.facebook, fakes.googleplus):
        sent = fake.received("POST")[-1].headers.get("traceparent", "")
        assert sent.startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-"), sent
        assert sent != incoming  # a span of its own
    lines = [
        json.loads(line)
        for line in worker.log_path.read_text().splitlines()
        if line.startswith("{")
    ]
    assert any(
        line.get("trace_id") == "4bf92f3577b34da6a3ce929d0e0e4736"
        and line.get("network") == "twitter"
        for line in lines
    )


def test_the_access_log_has_a_line_per_request(settings, tmp_path):
    log = tmp_path / "api.log"
    with api_process(settings, log_path=log, cli_args=("--log-json",)) as base:
        requests.get(base + "/feeds/all.rss", timeout=5)
        requests.get(base + "/metrics", timeout=5)  # no token: 401

        def lines() -> list[dict]:
            return [
                json.loads(x)
                for x in log.read_text().splitlines()
                if x.startswith("{") and json.loads(x).get("logger") == "syndicate.access"
            ]

        found = wait_for(
            lambda: {"/feeds/all.rss", "/metrics"} <= {x["path"] for x in lines()} and lines(),
            10,
            "access lines",
        )  # the start-up probe logs lines too
    by_path = {line["path"]: line for line in found}
    assert by_path["/feeds/all.rss"]["status"] == 200 and by_path["/metrics"]["status"] == 401
    assert by_path["/feeds/all.rss"]["method"] == "GET" and "duration_ms" in by_path["/metrics"]


def test_the_timeline_keeps_when_an_article_first_went_live_in_each_feed(service, settings_env):
    publish(service, "seed-article-published")
    first = service.redis.hgetall(keys.rendered_key(SEED_ID))
    assert b"tag/nato" in first
    assert run_cli(settings_env, "rebuild").returncode == 0
    assert service.redis.hgetall(keys.rendered_key(SEED_ID)) == first  # not the rebuild's time


def _readme_block(lang: str, after: str) -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(f"```{lang}\n", text.index(after)) + len(lang) + 4
    return text[start : text.index("```", start)]


def _tour_steps(block: str, port: int) -> list[tuple[str, list[str]]]:
    """The README's tour as (command, the lines it says the command prints)."""
    steps: list[tuple[str, list[str]]] = []
    for line in block.splitlines():
        line = line.replace("127.0.0.1:8000", f"127.0.0.1:{port}")
        if line.startswith("# "):
            steps[-1][1].append(line[2:])
        elif line.strip():
            assert not line.startswith("open "), "no `open` on Linux"
            steps.append((line, []))
    return steps


def _prints(out: str, expected: list[str]) -> bool:
    lines = [x.rstrip() for x in out.splitlines()]
    for want in expected:
        if want == "...":
            continue
        if "yourhost" in want:
            if not any(x.startswith(want.split("@")[0] + "@") for x in lines):
                return False
        elif want not in lines:
            return False
    return True


def test_the_readme_tour_pastes_and_runs_as_written(tmp_path):
    """The first screen of the README, line by line, in a directory like a fresh checkout's:
    `run` on port 8000's stand-in, then each command of the tour prints what the README says;
    `run`'s terminal keeps its start-up lines (the one-time login link) on screen."""
    for name, target in (
        (".venv", Path(sys.prefix)),
        ("tests", ROOT / "tests"),
        ("bench", ROOT / "bench"),
    ):
        (tmp_path / name).symlink_to(target)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATE_")}
    port = free_port()
    service = subprocess.Popen(
        [".venv/bin/python", "-m", "cli", "run", "--port", str(port)],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: _ready(port, service), 90, "syndicate run")
        for command, expected in _tour_steps(_readme_block("sh", "A first tour"), port):
            if not (Path(sys.prefix) / "bin" / "syndicate").exists():  # not installed: same code
                command = command.replace(".venv/bin/syndicate", ".venv/bin/python -m cli")

            def ran() -> subprocess.CompletedProcess | None:
                done = subprocess.run(
                    ["bash", "-c", command],
                    cwd=tmp_path,
                    timeout=180,
                    env={**env, "PYTHONPATH": str(ROOT)},
                    capture_output=True,
                    text=True,
                )
                return done if done.returncode == 0 and _prints(done.stdout, expected) else None

            first = ran()
            if first is None and "syndicate send" not in command and "cli send" not in command:
                first = wait_for(ran, 20, command)  # a reader asking again a moment later
            assert first is not None, command
        snippet = _readme_block("python", "From your own code").replace(
            "127.0.0.1:8000", f"127.0.0.1:{port}"
        )
        answer = subprocess.run(
            [sys.executable, "-c", snippet],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert answer.returncode == 0 and "'duplicate'" in answer.stdout, answer.stderr
    finally:
        service.send_signal(signal.SIGTERM)
        out, err = service.communicate(timeout=60)
    assert service.returncode == 0, err
    login = next(x for x in out.splitlines() if x.startswith("syndicate: login"))
    assert "#token=" in login and "shown once" in login
    assert "GET /feeds" not in out + err  # the access log went to its file
    assert "GET /feeds/tag/nato.atom" in (tmp_path / "var" / "access.log").read_text()
    assert out.splitlines()[-1] == "syndicate: Ctrl-C stops everything"


def _ready(port: int, service: subprocess.Popen) -> bool:
    assert service.poll() is None, service.communicate()
    try:
        return requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200
    except requests.RequestException:
        return False
