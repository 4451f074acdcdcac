"""Bluesky against the real reference PDS (`@atproto/dev-env` from npm: an in-memory PLC and a
PDS on SQLite, installed by tests/pds/install.sh into .cache/pds, by the `pds` fixture itself
the first time where node and npm exist). The
delivery state machine runs in-process; the PDS is the real thing."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from feeds.article import ArticleEvent
from syndicate.config import Settings
from tests.support import ROOT, free_port, load_fixture, wait_for
from worker.delivery import Delivery
from worker.runtime import Runtime

PDS_DIR = ROOT / ".cache" / "pds"
NODE = shutil.which("node")
INSTALLED = (PDS_DIR / "node_modules" / ".syndicate-installed").exists()
# Installed on demand (tests/pds/install.sh, about 30 s once) wherever node and npm exist.
pytestmark = pytest.mark.skipif(
    not (NODE and (INSTALLED or shutil.which("npm"))),
    reason="the reference PDS needs node and npm (Debian: apt install nodejs npm)",
)
SEED = "20230713-0001"


def _install_pds(log_path: Path) -> None:
    """tests/pds/install.sh, once per machine (it keeps .cache/pds; a second pytest waiting on
    the lock finds it done). No network, no registry: the tests skip, saying so."""
    import fcntl

    (ROOT / ".cache").mkdir(exist_ok=True)
    with open(ROOT / ".cache" / "pds.lock", "w") as lock, open(log_path, "wb") as log:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = subprocess.run(
            ["bash", str(ROOT / "tests" / "pds" / "install.sh")],
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=900,
        )
    if done.returncode != 0:
        pytest.skip(
            "could not install the reference PDS (tests/pds/install.sh): "
            + log_path.read_text(errors="replace")[-500:]
        )


@pytest.fixture(scope="module")
def pds(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pds")
    _install_pds(tmp / "install.log")  # quick when already installed
    ready = tmp / "ready.json"
    env = {
        **os.environ,
        "TMPDIR": str(tmp),
        "PDS_PORT": str(free_port()),
        "PLC_PORT": str(free_port()),
    }
    log = open(tmp / "pds.log", "wb")  # a file, never a pipe nobody reads
    proc = subprocess.Popen(
        [NODE, "start-net.js", str(ready)],
        cwd=PDS_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for(
            lambda: (
                (proc.poll() is None or pytest.fail((tmp / "pds.log").read_text()))
                and ready.exists()
                and ready.stat().st_size
            ),
            90,
            "the PDS",
        )
        yield json.loads(ready.read_text())["pds"]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def account(pds: str) -> tuple[str, str, str]:
    """A fresh account and an app password: (handle, app password, did)."""
    handle = f"n{uuid.uuid4().hex[:10]}.test"
    created = requests.post(
        f"{pds}/xrpc/com.atproto.server.createAccount",
        json={"email": f"{handle}@example.org", "handle": handle, "password": "main-pass-123"},
        timeout=30,
    ).json()
    app = requests.post(
        f"{pds}/xrpc/com.atproto.server.createAppPassword",
        headers={"Authorization": f"Bearer {created['accessJwt']}"},
        json={"name": "syndicate"},
        timeout=30,
    ).json()
    return handle, app["password"], created["did"]


class DroppingProxy:
    """Forwards to the PDS; the first `drops` putRecord answers are lost after the PDS acted
    (the connection closes instead), and createSession calls are counted."""

    def __init__(self, target: str, drops: int = 0) -> None:
        self.drops, self.logins, self.puts = drops, 0, 0
        self.errors: list[str] = []
        self.inject: list[tuple[str, int, dict, dict]] = []  # (path part, status, headers, body)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the PDS itself

            def log_message(self, *args):
                pass

            def _forward(self):
                try:
                    self._relay()
                except Exception as exc:  # noqa: BLE001 - recorded for the test to show
                    proxy.errors.append(repr(exc))
                    raise

            def _relay(self):
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else None
                for i, (part, status, headers, answer) in enumerate(proxy.inject):
                    if part in self.path:  # answered here, the PDS never sees it
                        del proxy.inject[i]
                        data = json.dumps(answer).encode()
                        self.send_response(status)
                        for k, v in headers.items():
                            self.send_header(k, v)
                        self.send_header("content-type", "application/json")
                        self.send_header("content-length", str(len(data)))
                        self.end_headers()
                        self.wfile.write(data)
                        return
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                r = requests.request(
                    self.command, target + self.path, data=body, headers=headers, timeout=30
                )
                if "createSession" in self.path:
                    proxy.logins += 1
                if "putRecord" in self.path:
                    proxy.puts += 1
                    if proxy.drops > 0:
                        proxy.drops -= 1
                        self.close_connection = True
                        self.connection.close()
                        return
                self.send_response(r.status_code)
                for k, v in r.headers.items():
                    if k.lower() not in (
                        "content-length",
                        "transfer-encoding",
                        "connection",
                        "content-encoding",
                    ):
                        self.send_header(k, v)
                self.send_header("content-length", str(len(r.content)))
                self.end_headers()
                self.wfile.write(r.content)

            do_GET = do_POST = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


@pytest.fixture
def bluesky(service, settings_env, pds):
    handle, password, did = account(pds)
    proxy = DroppingProxy(pds)
    env = {
        **settings_env,
        "SYNDICATE_BLUESKY_HANDLE": handle,
        "SYNDICATE_BLUESKY_APP_PASSWORD": password,
        "SYNDICATE_BLUESKY_PDS": proxy.url,
    }
    rt = Runtime(Settings.from_env(env))
    event = load_fixture("seed-article-published")
    rt.store.articles.apply(
        ArticleEvent.from_payload(event["id"], event), {"bluesky": ("pending", "")}
    )
    yield rt, proxy, did, pds
    proxy.close()


def deliver(rt, action: str = "post") -> tuple[str, dict]:
    outcome = Delivery(rt, SEED, "bluesky").run(action)
    return outcome, rt.store.outbox.entry(SEED, "bluesky")


def records(pds: str, did: str) -> list[dict]:
    return requests.get(
        f"{pds}/xrpc/com.atproto.repo.listRecords",
        params={"repo": did, "collection": "app.bsky.feed.post"},
        timeout=30,
    ).json()["records"]


def test_publish_writes_one_post_with_facets_card_and_langs(bluesky):
    rt, proxy, did, pds = bluesky
    outcome, entry = deliver(rt)
    assert outcome == "sent", entry
    [record] = records(pds, did)
    assert record["uri"] == entry["remote_id"]
    rkey = record["uri"].rsplit("/", 1)[1]
    assert entry["remote_url"] == f"https://bsky.app/profile/{did}/post/{rkey}"
    got = requests.get(
        f"{pds}/xrpc/com.atproto.repo.getRecord",
        params={"repo": did, "collection": "app.bsky.feed.post", "rkey": rkey},
        timeout=30,
    ).json()
    value = got["value"]
    seed = load_fixture("seed-article-published")["article"]
    text = value["text"].encode()
    link, *tags = value["facets"]
    assert text[link["index"]["byteStart"] : link["index"]["byteEnd"]].decode() == seed["url"]
    assert link["features"][0] == {"$type": "app.bsky.richtext.facet#link", "uri": seed["url"]}
    assert [text[t["index"]["byteStart"] : t["index"]["byteEnd"]].decode() for t in tags] == [
        "#NATO",
        "#Ukraine",
    ]
    assert [t["features"][0]["tag"] for t in tags] == ["NATO", "Ukraine"]
    card = value["embed"]["external"]
    assert card["uri"] == seed["url"] and card["title"] == seed["title"]
    assert "military alliance" in card["description"]
    assert value["langs"] == ["en"]
    assert proxy.logins == 1
    assert rt.store.channel_state("bluesky").get("session")["did"] == did  # kept in Redis


def test_a_dropped_connection_and_a_retry_storm_still_give_one_record(bluesky):
    rt, proxy, did, pds = bluesky
    proxy.drops = 1  # the PDS wrote the record; the answer never came
    outcome, entry = deliver(rt)
    assert outcome == "retry" and entry["in_flight"] == "1"
    payload = json.loads(entry["payload"])  # the record key and bytes, stored before the call
    for _ in range(3):  # a storm of reruns: the same bytes each time
        Delivery(rt, SEED, "bluesky").run("post")
    entry = rt.store.outbox.entry(SEED, "bluesky")
    assert entry["state"] == "sent"
    assert entry["remote_id"].endswith("/" + payload["rkey"])
    assert len(records(pds, did)) == 1
    channel = rt.channels["bluesky"]
    assert channel.post(payload) == entry["remote_id"]  # a repeat of the same bytes: no-op
    assert len(records(pds, did)) == 1 and proxy.logins == 1  # one login for all of it


def test_unpublish_deletes_the_record(bluesky):
    rt, proxy, did, pds = bluesky
    assert deliver(rt)[0] == "sent"
    event = {"id": "gone", "type": "article.unpublished", "article": {"id": SEED, "version": 9}}
    rt.store.articles.apply(ArticleEvent.from_payload("gone", event))
    outcome, _ = deliver(rt, "delete")
    assert outcome == "deleted" and records(pds, did) == []


def test_a_broken_session_logs_in_once_more_and_check_reads_the_session(bluesky):
    rt, proxy, did, pds = bluesky
    channel = rt.channels["bluesky"]
    assert channel.health_check().startswith("session for @")
    session = rt.store.channel_state("bluesky").get("session")
    rt.store.channel_state("bluesky").set("session", {**session, "accessJwt": "garbage"})
    channel._session = None
    outcome, entry = deliver(rt)
    assert outcome == "sent", (entry, proxy.errors)
    assert proxy.logins == 2


def test_share_link_is_an_intent(bluesky):
    rt, *_ = bluesky
    from worker.social import share_links

    links = share_links(rt.settings, rt.store.articles.article(SEED))
    assert links["bluesky"].startswith("https://bsky.app/intent/compose?text=")


def test_the_pds_fixture_is_local_only(pds):
    assert pds.startswith("http://localhost:") or pds.startswith("http://127.0.0.1:")
    assert Path(PDS_DIR / "start-net.js").exists()


def test_the_real_service_posts_the_seed_once_to_all_five_and_unpublish_deletes(tmp_path, pds):
    """`syndicate run` with X, Facebook, Google+ and Mastodon on loopback fakes and Bluesky on
    the real PDS: one post each, a dropped connection on Bluesky changes nothing, unpublish
    deletes the Mastodon status and the Bluesky record."""
    from tests.fakes import FakeMastodon, FakeServers
    from tests.support import FIXTURES, OPERATOR, Run

    fakes, mastodon = FakeServers(), FakeMastodon()
    fakes.start()
    mastodon.start()
    handle, password, did = account(pds)
    proxy = DroppingProxy(pds, drops=1)
    run = Run(
        tmp_path,
        {
            **fakes.environment(),
            **mastodon.environment(),
            "SYNDICATE_BLUESKY_HANDLE": handle,
            "SYNDICATE_BLUESKY_APP_PASSWORD": password,
            "SYNDICATE_BLUESKY_PDS": proxy.url,
            "SYNDICATE_RETRY_BASE_MS": "200",
        },
    )
    try:
        run.wait_up()
        seed = json.loads((FIXTURES / "seed-article-published.json").read_text())
        del seed["article"]["share"]["networks"]  # every enabled network
        event = tmp_path / "seed.json"
        event.write_text(json.dumps(seed))
        sent = run.cli("send", str(event))
        assert sent.returncode == 0, sent.stderr

        def states() -> dict:
            shares = (
                requests.get(f"{run.base}/articles/{SEED}", headers=OPERATOR, timeout=10)
                .json()
                .get("shares", {})
            )
            return {n: e.get("state") for n, e in shares.items()}

        every = {"twitter", "facebook", "googleplus", "mastodon", "bluesky"}
        wait_for(
            lambda: (
                {n: s for n, s in states().items() if n in every} == dict.fromkeys(every, "sent")
            ),
            60,
            "a post on each network",
        )
        assert (
            len(fakes.twitter.posts),
            len(fakes.facebook.posts),
            len(fakes.googleplus.activities),
            len(mastodon.statuses),
            len(records(pds, did)),
        ) == (1, 1, 1, 1, 1)
        assert proxy.drops == 0  # the first answer was lost: the record was found, not re-sent
        check = run.cli("check")
        assert "mastodon: authenticated as @news" in check.stdout
        assert "bluesky: session for @" in check.stdout
        assert run.cli("send", str(FIXTURES / "seed-article-unpublished.json")).returncode == 0
        wait_for(
            lambda: states()["mastodon"] == "deleted" and states()["bluesky"] == "deleted",
            60,
            "the deletes",
        )
        assert mastodon.statuses == {} and records(pds, did) == []
    finally:
        run.stop()
        proxy.close()
        fakes.stop()
        mastodon.stop()


@pytest.mark.parametrize(
    "status, headers, answer, outcome",
    [
        (
            429,
            {"RateLimit-Reset": "4102444800", "RateLimit-Remaining": "0"},
            {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
            "retry",
        ),
        (502, {}, {"error": "UpstreamFailure", "message": "Upstream service unreachable"}, "retry"),
        (
            400,
            {},
            {"error": "InvalidRequest", "message": "Invalid app.bsky.feed.post record"},
            "failed",
        ),
    ],
)
def test_the_retry_matrix_on_the_real_pds(bluesky, status, headers, answer, outcome):
    """The rows the real PDS will not produce on demand are answered by the proxy in front of
    it (rate limit, an upstream failure, an invalid record); then the PDS takes the retry."""
    rt, proxy, did, pds = bluesky
    proxy.inject.append(("putRecord", status, headers, answer))
    got, entry = deliver(rt)
    assert got == outcome, entry
    if outcome == "retry":
        wait = float(entry["next_attempt_at"]) - float(entry["last_attempt_at"])
        assert (wait > 3600) == (status == 429)  # RateLimit-Reset is honoured
        assert deliver(rt)[0] == "sent" and len(records(pds, did)) == 1
    else:
        assert "InvalidRequest" in entry["last_error"] and records(pds, did) == []


def test_an_expired_access_token_is_refreshed_not_a_new_login(bluesky):
    rt, proxy, did, pds = bluesky
    rt.channels["bluesky"].health_check()  # the session exists
    proxy.inject.append(
        ("putRecord", 400, {}, {"error": "ExpiredToken", "message": "Token has expired"})
    )
    outcome, entry = deliver(rt)
    assert outcome == "sent", entry
    assert proxy.logins == 1  # refreshed with refreshSession, no second createSession
    assert len(records(pds, did)) == 1
