"""The status page at `/` and an article's timeline, over ASGI and in headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from lxml import html

from tests.support import (
    ADMIN_TOKEN,
    SEED_ID,
    api_process,
    load_fixture,
    publish,
    send,
    wait_for,
    wait_states,
)


def _doc(service, path: str):
    r = service.client.get(path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    return html.fromstring(r.content)


def _rows(doc, table_id: str) -> list[list[str]]:
    return [[" ".join(td.text_content().split()) for td in tr.findall("td")]
            for tr in doc.get_element_by_id(table_id).iter("tr") if tr.find("td") is not None]


def test_home_shows_recent_events_channels_and_failures(service, fakes):
    fakes.twitter.fail_next(("answer", 401, {}, {"title": "Unauthorized", "type": "about:blank",
                                                 "status": 401, "detail": "Unauthorized"}))
    send(service, "seed-article-published")
    wait_states(service, {"twitter": "failed", "facebook": "sent", "googleplus": "sent"})
    doc = _doc(service, "/")
    events = _rows(doc, "events")
    title = load_fixture("seed-article-published")["article"]["title"]
    assert events[0][1:3] == ["published", title]  # headlines, not ids
    assert doc.get_element_by_id("events").find(".//time").get("datetime").endswith("Z")
    assert events[0][3].startswith("done")
    channels = {row[0]: row for row in _rows(doc, "channels")}
    assert channels["twitter"][1] == "on" and "401" in channels["twitter"][3]
    assert "sent 1" in channels["facebook"][2]
    dead = _rows(doc, "dead")
    assert dead[0][0] == f"delivery:{SEED_ID}:twitter" and "401" in dead[0][2]
    assert dead[0][1] == title
    assert "token expired" in dead[0][2] and "SYNDICATE_TWITTER_BEARER_TOKEN" in dead[0][2]
    assert doc.get_element_by_id("dead").find(".//form").get("action") == "/status/retry"
    cards = {c.get("data-card"): c.find("b").text for c in doc.find_class("card")}
    assert cards["dead letters"] == "1" and cards["workers"] == "1"
    assert cards["feeds"] == "8" and "feeds to render" in cards


def test_article_timeline_shows_received_rendered_pinged_and_shared(service, fakes):
    send(service, "seed-article-published")
    state = wait_states(service, {"twitter": "sent", "facebook": "sent", "googleplus": "sent"})
    wait_for(lambda: fakes.hub.received("POST"), what="a ping")
    service.settle()

    def timeline() -> list[str] | None:
        doc = _doc(service, f"/status/articles/{SEED_ID}")
        steps = [row[1] for row in _rows(doc, "timeline")]
        return steps if any(s.startswith("hub ") and "answered HTTP 204" in s
                            for s in steps) else None

    steps = wait_for(timeline, what="the ping on the timeline")
    assert steps[0].startswith("received article.published"), "\n".join(steps)
    assert any(s.startswith("applied article.published") for s in steps)
    assert any(s == "in feed tag/nato" for s in steps)
    for network in ("twitter", "facebook", "googleplus"):
        assert any(s.startswith(f"{network}: sent remote id {state[network]['remote_id']}")
                   for s in steps), (network, steps)
    assert service.client.get("/status/articles/nope").status_code == 404


def test_hostile_text_is_escaped_on_the_page(service):
    event = publish(service, "hostile-article-published")
    article_id = event["article"]["id"]
    page = service.client.get(f"/status/articles/{article_id}").text
    ours = ['<script src="/local-time.js">']  # the one script: our own file, no inline code
    assert re.findall(r"<script[^>]*>", page, re.I) == ours and "onerror=" not in page.lower()
    assert re.findall(r"<script[^>]*>", service.client.get("/").text, re.I) == ours


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian: apt install chromium)")
def test_the_page_in_headless_chromium_on_a_phone_sized_screen(service, settings, settings_env,
                                                               tmp_path):
    publish(service, "seed-article-published")
    with api_process(settings, settings_env) as base:
        def dump(path: str) -> str:
            return subprocess.run(
                [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=390,844",
                 f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000",
                 "--dump-dom", base + path],
                capture_output=True, text=True, timeout=60, check=True).stdout

        # A stranger's browser is sent to the login page; the login link (the token after `#`,
        # never sent to the server) signs it in and lands on the page asked for.
        assert html.fromstring(dump("/")).find(".//h1").text_content() == "syndicate"
        doc = html.fromstring(dump(f"/login?next=/#token={ADMIN_TOKEN}"))
        assert doc.find(".//h1").text_content() == "Test Newsroom: syndication status"
        title = load_fixture("seed-article-published")["article"]["title"]
        assert _rows(doc, "events")[0][1:3] == ["published", title]
        link = doc.get_element_by_id("events").find(".//a").get("href")
        assert link == f"/status/articles/{SEED_ID}"
        article = html.fromstring(dump(link))
        assert article.find(".//h1").text_content() == title
        assert any(row[1].startswith("in feed ") for row in _rows(article, "timeline"))
        shot = tmp_path / "status.png"
        subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                        "--window-size=390,844", f"--user-data-dir={tmp_path / 'profile'}",
                        "--virtual-time-budget=10000", f"--screenshot={shot}", base + "/"],
                       capture_output=True, timeout=60, check=True)
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
