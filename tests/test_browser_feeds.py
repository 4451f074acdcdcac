"""Issue #26 item 1 in a real browser and through the deployment's nginx: a person who opens a
feed URL in Chromium reads a page (what a feed is, how to subscribe, the articles), with whole
addresses and working copy buttons at phone and desktop widths; feed readers at the same URL
(feedparser and reader, fetching for real) get the exported bytes and ETag from nginx, and 304s.
One `syndicate run` (with the static export) behind deploy/nginx.conf for the whole file."""

from __future__ import annotations

import os
import shutil

import feedparser
import feedparser.http
import pytest
import requests

from bench import serving as srv
from tests.browser import Browser
from tests.support import FIXTURES, Run, free_port, load_fixture, wait_for

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ACCEPT = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or srv.NGINX is None,
    reason="needs Chromium and nginx (apt install chromium nginx)",
)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """nginx (deploy/nginx.conf) over the export of a `syndicate run`, with the seed article and
    the audio programme published and exported."""
    tmp = tmp_path_factory.mktemp("browser-feeds")
    os.chmod(tmp, 0o755)  # nginx's worker reads the export below it
    export, api_port = tmp / "export", free_port()
    nginx = srv.Nginx(tmp / "nginx", export, srv.deploy_site(), api=f"http://127.0.0.1:{api_port}")
    run = Run(
        tmp, {"SYNDICATE_EXPORT_DIR": str(export), "SYNDICATE_PUBLIC_URL": nginx.url}, port=api_port
    )
    try:
        run.wait_up()
        nginx.start()
        for name in ("seed-article-published", "audio-programme-published"):
            assert run.cli("send", str(FIXTURES / f"{name}.json")).returncode == 0
        wait_for(
            lambda: (
                (export / "feeds" / "audio.rss").exists()
                and (export / "feeds" / "tag" / "nato.atom").exists()
            ),
            60,
            "the export",
        )
        yield nginx.url, export
    finally:
        run.stop()
        nginx.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    b = Browser(CHROMIUM, tmp_path_factory.mktemp("chromium") / "profile")
    try:
        yield b
    finally:
        b.close()


def test_a_feed_url_opened_in_chromium_reads_as_a_page(site, browser, tmp_path):
    base, _ = site
    title = load_fixture("seed-article-published")["article"]["title"]
    for width in (390, 1280):
        browser.set_size(width, 844)
        browser.goto(base + "/feeds/tag/nato.rss")
        text = browser.text("main")
        assert "What is a feed?" in text and "How to subscribe" in text, text[:500]
        assert "You opened the RSS feed" in text and title in text
        assert browser.evaluate("location.pathname") == "/feeds/tag/nato.rss"  # the feed's own URL
        assert browser.overflowing() == [], width
        # Each address is whole on screen: wrapped, never cut.
        boxes = browser.evaluate("""[...document.querySelectorAll('#subscribe code')].map(c => {
            const r = c.getBoundingClientRect();
            return [c.innerText, c.scrollWidth <= c.clientWidth + 1, r.right <= innerWidth]; })""")
        assert [b[0] for b in boxes] == [
            f"{base}/feeds/tag/nato.{f}" for f in ("rss", "atom", "json")
        ]
        assert all(b[1] and b[2] for b in boxes), boxes
        shot = tmp_path / f"feed-{width}.png"
        browser.screenshot(shot)
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 5_000


def test_the_copy_button_puts_the_whole_address_on_the_clipboard(site, browser):
    base, _ = site
    browser.send(
        "Browser.grantPermissions",
        origin=base,
        permissions=["clipboardReadWrite", "clipboardSanitizedWrite"],
    )
    browser.send("Emulation.setFocusEmulationEnabled", enabled=True)
    browser.goto(base + "/feeds/tag/nato")
    assert browser.evaluate("document.querySelector('button[data-copy=url-atom]').hidden") is False
    browser.click("button[data-copy=url-atom]")
    wait_for(lambda: browser.text("button[data-copy=url-atom]") == "Copied", 10, "the copy")
    assert browser.evaluate("navigator.clipboard.readText()") == f"{base}/feeds/tag/nato.atom"


def test_the_audio_page_plays_episodes(site, browser):
    base, _ = site
    audio = load_fixture("audio-programme-published")["article"]["audio"]
    browser.set_size(390, 844)
    browser.goto(base + "/feeds/audio.rss")
    player = browser.evaluate("""(() => { const a = document.querySelector('audio');
        const r = a.getBoundingClientRect();
        return [a.currentSrc || a.src, a.controls, a.preload, r.width > 100 && r.height > 0]; })()""")
    assert player == [audio["url"], True, "none", True]


def test_readers_through_nginx_get_the_exported_bytes_and_304(site):
    base, export = site
    url = base + "/feeds/tag/nato.atom"
    on_disk = (export / "feeds" / "tag" / "nato.atom").read_bytes()
    title = load_fixture("seed-article-published")["article"]["title"]
    # feedparser fetching for real (its own Accept header, its own conditional GET)
    parsed = feedparser.parse(url)
    assert parsed.status == 200 and parsed.entries[0].title == title
    assert feedparser.parse(url, etag=parsed.etag).status == 304
    # reader (lemon24/reader), a whole feed reader, subscribing and updating
    from reader import make_reader

    reader = make_reader(":memory:")
    reader.add_feed(url)
    reader.update_feeds()
    assert [e.title for e in reader.get_entries()] == [title]
    reader.close()
    # The exported file itself, with nginx's ETag, for each reader's Accept; the page for a browser.
    for accept in (feedparser.http.ACCEPT_HEADER, "*/*", "application/atom+xml"):
        r = requests.get(url, headers={"Accept": accept, "Accept-Encoding": "identity"}, timeout=5)
        assert r.content == on_disk and "Accept" in r.headers["vary"], accept
        again = requests.get(
            url,
            timeout=5,
            headers={
                "Accept": accept,
                "If-None-Match": r.headers["etag"],
                "Accept-Encoding": "identity",
            },
        )
        assert again.status_code == 304
    page = requests.get(url, headers={"Accept": CHROMIUM_ACCEPT}, timeout=5)
    assert page.headers["content-type"].startswith("text/html") and "What is a feed?" in page.text
    assert page.headers["vary"] == "Accept, Accept-Encoding"
    assert (
        requests.get(
            url,
            timeout=5,
            headers={"Accept": CHROMIUM_ACCEPT, "If-None-Match": page.headers["etag"]},
        ).status_code
        == 304
    )
