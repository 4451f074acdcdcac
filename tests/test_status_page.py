"""The status page at `/` and an article's timeline, over ASGI and in headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from urllib.parse import quote

import pytest
from lxml import html

from tests.support import (
    ADMIN_TOKEN,
    SEED_ID,
    api_process,
    load_fixture,
    publish,
    run_cli,
    send,
    wait_for,
    wait_states,
)
from worker.store import keys


def _doc(service, path: str):
    r = service.client.get(path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    return html.fromstring(r.content)


def _rows(doc, table_id: str) -> list[list[str]]:
    return [
        [" ".join(td.text_content().split()) for td in tr.findall("td")]
        for tr in doc.get_element_by_id(table_id).iter("tr")
        if tr.find("td") is not None
    ]


def test_home_shows_recent_events_channels_and_failures(service, fakes):
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
    doc = _doc(service, "/")
    events = _rows(doc, "events")
    title = load_fixture("seed-article-published")["article"]["title"]
    assert events[0][1:3] == ["published", title]  # headlines, not ids
    assert doc.get_element_by_id("events").find(".//time").get("datetime").endswith("Z")
    assert events[0][3].startswith("done")
    channels = {row[0]: row for row in _rows(doc, "channels")}
    assert channels["twitter"][1] == "on" and "401" in channels["twitter"][3]
    assert "posted 1" in channels["facebook"][2]  # plain words, not the store's "sent"
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
        return (
            steps if any(s.startswith("hub ") and "answered HTTP 204" in s for s in steps) else None
        )

    steps = wait_for(timeline, what="the ping on the timeline")
    assert steps[0].startswith("received article.published"), "\n".join(steps)
    assert any(s.startswith("applied article.published") for s in steps)
    assert any(s == "in feed tag/nato" for s in steps)
    for network in ("twitter", "facebook", "googleplus"):
        assert any(
            s.startswith(f"{network}: sent remote id {state[network]['remote_id']}") for s in steps
        ), (network, steps)
    assert service.client.get("/status/articles/nope").status_code == 404


def test_hostile_text_is_escaped_on_the_page(service):
    event = publish(service, "hostile-article-published")
    article_id = event["article"]["id"]
    page = service.client.get(f"/status/articles/{article_id}").text
    ours = ['<script src="/local-time.js">']  # the one script: our own file, no inline code
    assert re.findall(r"<script[^>]*>", page, re.I) == ours and "onerror=" not in page.lower()
    assert re.findall(r"<script[^>]*>", service.client.get("/").text, re.I) == ours


def quiet_cms(rt, now: float | None = None) -> None:
    """A CMS that sent an event every 10 minutes for an hour, until two hours ago."""
    now = time.time() if now is None else now
    for n in range(7):
        rt.store.activity.event_accepted(now=now - 7200 - n * 600)


def test_chart_counts_events_and_posts_per_hour(service):
    publish(service, "seed-article-published")
    wait_states(service, {"twitter": "sent", "facebook": "sent", "googleplus": "sent"})
    doc = _doc(service, "/")
    chart = doc.get_element_by_id("chart")
    assert (chart.get("data-events"), chart.get("data-posts")) == ("1", "3")
    hours = chart.findall(".//{*}g")
    assert len(hours) == 24  # one pair of bars per hour, the current hour last
    counts = [
        tuple(map(int, re.findall(r"(\d+) (?:events|posts)", g.find("{*}title").text)))
        for g in hours
    ]
    assert sum(e for e, _ in counts) == 1 and sum(p for _, p in counts) == 3
    top = max(max(c) for c in counts)
    for g, (events, posts) in zip(hours, counts):  # each bar as tall as its count
        heights = [float(r.get("height")) for r in g.findall("{*}rect")]
        assert heights == [round(events / top * 100, 1), round(posts / top * 100, 1)]
    assert "Last event from the CMS" in doc.get_element_by_id("last-event").text_content()
    assert doc.find(".//*[@id='quiet']") is None


def test_quiet_cms_is_said_in_words_and_an_event_ends_it(service):
    rt = service.client.app.state.runtime
    quiet_cms(rt)
    warning = _doc(service, "/").get_element_by_id("quiet").text_content()
    assert "The CMS has sent nothing for 2 h" in warning and "every 10 min" in warning
    publish(service, "seed-article-published")
    doc = _doc(service, "/")
    assert doc.find(".//*[@id='quiet']") is None
    assert "ago" in doc.get_element_by_id("last-event").text_content()


def test_search_by_headline_article_id_and_event_id(service):
    event = publish(service, "seed-article-published")
    title = event["article"]["title"]
    for query in (title.split()[1].lower(), SEED_ID, event["id"]):
        doc = _doc(service, f"/?q={quote(query)}")
        found = _rows(doc, "found")
        assert [row[:2] for row in found] == [[title, SEED_ID]], query
        assert doc.get_element_by_id("q").get("value") == query
    doc = _doc(service, "/?q=no+such+headline")
    assert doc.find(".//*[@id='found']") is None and doc.get_element_by_id("found-none") is not None
    too_long = _doc(service, "/?q=" + "x" * 500)
    assert "at most 200 characters" in too_long.text_content()
    hostile = _doc(service, "/?q=" + quote("<img src=x onerror=alert(1)>"))
    assert hostile.find(".//img") is None


def test_operator_actions_list_a_purge_and_a_replay_with_who_and_when(service, settings_env, fakes):
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
    doc = _doc(service, "/")
    assert "No backfill, rebuild, replay or purge yet." in doc.text_content()
    csrf = doc.get_element_by_id("signout").find(".//input[@name='csrf']").get("value")
    name = f"delivery:{SEED_ID}:twitter"
    retried = service.client.post(
        "/status/retry", data={"name": name, "csrf": csrf}, follow_redirects=False
    )
    assert retried.status_code == 303
    wait_states(service, {"twitter": "sent"})
    service.settle()
    result = run_cli(settings_env, "purge", SEED_ID, "--yes")
    assert result.returncode == 0, result.stderr
    doc = _doc(service, "/")
    actions = _rows(doc, "actions")
    assert actions[0][2] == f"took down (purge) {SEED_ID}" and actions[0][1]
    assert actions[1][1:] == ["status page", f"retried (replay) {name}"]
    for row in doc.get_element_by_id("actions").findall(".//time"):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", row.get("datetime"))
        assert row.text_content().endswith(" UTC")
    # A form from elsewhere (no CSRF token) retries nothing and records nothing.
    refused = service.client.post("/status/retry", data={"name": name, "csrf": "forged"})
    assert refused.status_code == 403 and len(_rows(_doc(service, "/"), "actions")) == 2


def test_channels_that_are_off_say_how_to_turn_them_on(service):
    channels = {row[0]: row for row in _rows(_doc(service, "/"), "channels")}
    assert channels["mastodon"][1].startswith("off")
    assert "SYNDICATE_MASTODON_TOKEN" in channels["mastodon"][1]
    assert "syndicate check" in channels["mastodon"][1]
    assert channels["twitter"][1] == "on"


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (Debian: apt install chromium)"
)
def test_the_page_in_headless_chromium_on_a_phone_sized_screen(
    service, settings, settings_env, tmp_path
):
    event = publish(service, "seed-article-published")
    with api_process(settings, settings_env) as base:

        def dump(path: str, width: int = 390) -> str:
            return subprocess.run(
                [
                    CHROMIUM,
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    f"--window-size={width},844",
                    f"--user-data-dir={tmp_path / 'profile'}",
                    "--virtual-time-budget=10000",
                    "--dump-dom",
                    base + path,
                ],
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            ).stdout

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
        # The night desk at both widths: the chart, the quiet warning (the CMS sent every 10
        # minutes until two hours ago), a search by headline, the operators' actions.
        rt = service.client.app.state.runtime
        service.redis.delete(keys.ACTIVITY_ARRIVALS)  # the seed event came two hours ago
        service.redis.hset(keys.event_key(event["id"]), "received_at", time.time() - 7200)
        quiet_cms(rt)
        rt.store.actions.record("purge", "gone-article", who="ana")
        rt.store.actions.record("replay", f"delivery:{SEED_ID}:twitter", who="status page")
        for width in (390, 1280):
            doc = html.fromstring(dump(f"/?q={title.split()[1]}", width))
            assert len(doc.get_element_by_id("chart").findall(".//{*}rect")) >= 48, width
            assert "nothing for 2 h" in doc.get_element_by_id("quiet").text_content()
            assert _rows(doc, "found")[0][0] == title
            actions = _rows(doc, "actions")
            assert [a[1:] for a in actions[:2]] == [
                ["status page", f"retried (replay) delivery:{SEED_ID}:twitter"],
                ["ana", "took down (purge) gone-article"],
            ]
            stamp = doc.get_element_by_id("actions").find(".//time")
            assert stamp.get("datetime").endswith("Z") and "UTC" in stamp.get("title"), width
            assert not re.fullmatch(r"\d+/\d+/\d+.*", stamp.text_content())  # month in words
            shot = tmp_path / f"status-{width}.png"
            subprocess.run(
                [
                    CHROMIUM,
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    f"--window-size={width},844",
                    f"--user-data-dir={tmp_path / 'profile'}",
                    "--virtual-time-budget=10000",
                    f"--screenshot={shot}",
                    base + "/",
                ],
                capture_output=True,
                timeout=60,
                check=True,
            )
            assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
