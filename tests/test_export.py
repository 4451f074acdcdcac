"""Static export through the real `syndicate run`: every changed render also lands in
SYNDICATE_EXPORT_DIR, with a `.gz` beside it, byte for byte what the API serves, written
atomically; an update rewrites it and a retraction takes the article out. And nginx serving
the export with deploy/nginx.conf, as compose's `nginx` service does."""

from __future__ import annotations

import gzip
import os

import feedparser
import pytest
import requests

from bench import serving as srv
from tests.fakes import FakeHub
from tests.support import FIXTURES, Run, free_port, load_fixture, publish, wait_for


def test_renders_are_exported_atomically_with_their_gzip(tmp_path):
    export = tmp_path / "export"
    run = Run(tmp_path, {"SYNDICATE_EXPORT_DIR": str(export)})
    try:
        run.wait_up()
        assert run.cli("send", str(FIXTURES / "seed-article-published.json")).returncode == 0
        title = load_fixture("seed-article-published")["article"]["title"]
        target = export / "feeds" / "tag" / "nato.atom"
        wait_for(
            lambda: target.exists() and title.encode() in target.read_bytes(),
            30,
            "the exported feed",
        )
        for fmt in ("rss", "atom", "json"):
            path = export / "feeds" / "tag" / f"nato.{fmt}"
            served = requests.get(
                f"{run.base}/feeds/tag/nato.{fmt}",
                headers={"Accept-Encoding": "identity"},
                timeout=5,
            ).content
            assert path.read_bytes() == served, fmt
            assert gzip.decompress((path.parent / f"nato.{fmt}.gz").read_bytes()) == served
        assert not [p for p in (export / "feeds").rglob(".*")]  # no temporary file left
        assert run.cli("send", str(FIXTURES / "seed-article-updated.json")).returncode == 0
        new_title = load_fixture("seed-article-updated")["article"]["title"]
        wait_for(lambda: new_title.encode() in target.read_bytes(), 30, "the rewrite")
        assert run.cli("send", str(FIXTURES / "seed-article-unpublished.json")).returncode == 0
        wait_for(
            lambda: feedparser.parse(target.read_bytes()).entries == [],
            30,
            "the retraction in the exported feed",
        )
    finally:
        run.stop()


class FetchingHub(FakeHub):
    """A WebSub hub that, like a real one, fetches the topic the moment it is pinged."""

    def __init__(self) -> None:
        super().__init__()
        self.fetched: list[tuple[str, bytes]] = []

    def respond(self, rec):
        status, headers, body = super().respond(rec)
        for url in rec.form.get("hub.url", []):
            self.fetched.append((url, requests.get(url, timeout=5).content))
        return status, headers, body


@pytest.mark.skipif(srv.NGINX is None, reason="nginx is not installed (apt-get install nginx)")
def test_nginx_serves_the_export_through_deploy_nginx_conf_and_hubs_fetch_the_new_bytes(tmp_path):
    """The compose `nginx` service's own configuration, on the machine's nginx: exported feeds
    byte for byte with ETag, 304, the pre-compressed gzip; everything else from the API; and a
    hub fetching on its ping already gets the new bytes, because the files come first."""
    os.chmod(tmp_path, 0o755)  # nginx's worker reads the export below it
    export = tmp_path / "export"
    api_port = free_port()
    nginx = srv.Nginx(
        tmp_path / "nginx", export, srv.deploy_site(), api=f"http://127.0.0.1:{api_port}"
    )
    hub = FetchingHub()
    hub.start()
    run = Run(
        tmp_path,
        {
            "SYNDICATE_EXPORT_DIR": str(export),
            "SYNDICATE_PUBLIC_URL": nginx.url,
            "SYNDICATE_WEBSUB_HUBS": hub.url + "/",
        },
        port=api_port,
    )
    try:
        run.wait_up()
        nginx.start()
        assert run.cli("send", str(FIXTURES / "seed-article-published.json")).returncode == 0
        feed = nginx.url + "/feeds/tag/nato.atom"
        title = load_fixture("seed-article-published")["article"]["title"]
        wait_for(lambda: title.encode() in requests.get(feed, timeout=5).content, 30, "nginx")

        plain = requests.get(feed, headers={"Accept-Encoding": "identity"}, timeout=5)
        served = requests.get(
            f"{run.base}/feeds/tag/nato.atom", headers={"Accept-Encoding": "identity"}, timeout=5
        )
        assert plain.content == served.content
        assert plain.headers["content-type"] == "application/atom+xml; charset=utf-8"
        assert plain.headers["cache-control"] == "public, max-age=60"
        again = requests.get(
            feed,
            timeout=5,
            headers={"Accept-Encoding": "identity", "If-None-Match": plain.headers["etag"]},
        )
        assert again.status_code == 304 and again.content == b""
        packed = requests.get(feed, headers={"Accept-Encoding": "gzip"}, stream=True, timeout=5)
        assert packed.headers["content-encoding"] == "gzip"
        assert "Accept-Encoding" in packed.headers["vary"]
        assert gzip.decompress(packed.raw.read()) == served.content
        assert feedparser.parse(plain.content).entries[0].title == title

        # Not exported: the feed page, the OPML, an unknown feed; the API answers through nginx.
        page = requests.get(nginx.url + "/feeds/tag/nato", timeout=5)
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert requests.get(nginx.url + "/feeds.opml", timeout=5).status_code == 200
        assert requests.get(nginx.url + "/feeds/tag/nope.atom", timeout=5).status_code == 404

        # An update and a retraction: every ping's fetch already had the bytes of that render.
        wait_for(lambda: any(u == feed for u, _ in hub.fetched), 30, "the first render's ping")
        run.cli("status")  # a second or so for the first render's other pings to land
        before_update = len(hub.fetched)
        assert run.cli("send", str(FIXTURES / "seed-article-updated.json")).returncode == 0
        new_title = load_fixture("seed-article-updated")["article"]["title"]
        wait_for(
            lambda: any(u == feed for u, _ in hub.fetched[before_update:]),
            30,
            "a ping after the update",
        )
        assert all(
            new_title.encode() in body for u, body in hub.fetched[before_update:] if u == feed
        )
        assert run.cli("send", str(FIXTURES / "seed-article-unpublished.json")).returncode == 0
        wait_for(
            lambda: feedparser.parse(requests.get(feed, timeout=5).content).entries == [],
            30,
            "the retraction served by nginx",
        )
        wait_for(
            lambda: any(
                u == feed and not feedparser.parse(body).entries for u, body in hub.fetched
            ),
            30,
            "a ping fetching the retraction",
        )
        pings = [body for u, body in hub.fetched if u == feed]
        assert pings and all(body.startswith(b"<?xml") for body in pings)
    finally:
        run.stop()
        nginx.stop()
        hub.stop()


def test_an_export_that_cannot_be_written_fails_that_feed_alone_and_is_counted(
    service, settings, tmp_path
):
    """A feed whose files cannot be written (here its folder is a file) is a failed export of
    that feed: counted, retried through the schedule, dead-lettered in the end with its reason;
    its bytes are still published (the export never holds the store back), the hubs are not
    told until the files are there, and the other feeds export as usual."""
    from worker import rendering
    from worker.retry import RENDER
    from worker.runtime import Runtime
    from worker.store import keys
    from worker.store.dead import render_letter

    publish(service, "seed-article-published")
    export = tmp_path / "export"
    (export / "feeds").mkdir(parents=True)
    (export / "feeds" / "tag").write_text("not a folder")
    rt = Runtime(settings.with_(export_dir=export))
    for attempt in range(1, RENDER.max_attempts + 1):
        outcome = rendering.render_and_save(rt, "tag/nato")
        assert not outcome.failed and not outcome.announce, outcome
        assert rt.store.exports.error("tag/nato").startswith("export: NotADirectoryError")
        if attempt == 1:
            assert service.redis.zcount(keys.SCHEDULE, "-inf", "+inf") >= 1  # retry scheduled
    assert rt.store.dead.contains(render_letter("tag/nato"))
    assert service.redis.hget(keys.meta_key("tag/nato"), "etag:atom")  # published all the same
    assert not rendering.render_and_save(rt, "all").failed
    assert (export / "feeds" / "all.atom").exists()


def test_a_link_planted_in_the_export_folder_is_replaced_not_followed(service, settings, tmp_path):
    """Someone who can write to the export folder plants links at the temporary names and at
    the target: nothing outside the folder is written or has its mode changed."""
    from worker import rendering
    from worker.runtime import Runtime

    publish(service, "seed-article-published")
    export = tmp_path / "export"
    victim = tmp_path / "victim"
    victim.write_text("do not touch")
    victim.chmod(0o600)
    folder = export / "feeds" / "tag"
    folder.mkdir(parents=True)
    for pid_guess in range(os.getpid() - 50, os.getpid() + 50):  # the old predictable names
        (folder / f".nato.atom.{pid_guess}.tmp").symlink_to(victim)
    (folder / "nato.atom").symlink_to(victim)
    rt = Runtime(settings.with_(export_dir=export))
    outcome = rendering.render_and_save(rt, "tag/nato")
    assert not outcome.failed and outcome.announce
    assert victim.read_text() == "do not touch" and (victim.stat().st_mode & 0o777) == 0o600
    target = folder / "nato.atom"
    assert not target.is_symlink() and b"<feed" in target.read_bytes()
