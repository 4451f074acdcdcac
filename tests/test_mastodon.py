"""Mastodon against a loopback fake of an instance (the reference's checklist): the delivery
state machine in-process for each row of the retry matrix, the Idempotency-Key, the instance's
real limit."""

from __future__ import annotations

import pytest

from feeds.article import ArticleEvent
from syndicate.config import Settings
from tests.support import load_fixture
from worker.delivery import Delivery
from worker.runtime import Runtime
from worker.social.mastodon import status_text, weight

SEED = "20230713-0001"


@pytest.fixture
def rt(service, settings_env, mastodon):
    runtime = Runtime(Settings.from_env({**settings_env, **mastodon.environment()}))
    event = load_fixture("seed-article-published")
    runtime.store.articles.apply(
        ArticleEvent.from_payload(event["id"], event), {"mastodon": ("pending", "")}
    )
    return runtime


def deliver(rt, action: str = "post") -> tuple[str, dict]:
    outcome = Delivery(rt, SEED, "mastodon").run(action)
    return outcome, rt.store.outbox.entry(SEED, "mastodon")


def test_posts_once_with_an_idempotency_key_within_the_instance_limit(rt, mastodon):
    mastodon.max_characters = 120
    outcome, entry = deliver(rt)
    assert outcome == "sent"
    [post] = mastodon.received("POST", "/api/v1/statuses")
    assert post.headers["idempotency-key"] == f"syndicate:{SEED}:mastodon"
    text = post.form["status"][0]
    seed = load_fixture("seed-article-published")["article"]
    assert seed["url"] in text and weight(text) <= 120
    assert post.form["visibility"] == ["public"] and post.form["language"] == ["en"]
    assert entry["remote_id"] in mastodon.statuses
    assert entry["remote_url"] == mastodon.statuses[entry["remote_id"]]["url"]


@pytest.mark.parametrize("answered", [-5, 3, 10**12, "many", True])
def test_an_implausible_instance_limit_falls_back_to_the_documented_one(rt, mastodon, answered):
    mastodon.max_characters = answered  # a careless or hostile instance
    assert rt.channels["mastodon"].limits() == (500, 23)


def test_a_repeat_with_the_same_key_returns_the_original_status(rt, mastodon):
    channel = rt.channels["mastodon"]
    article = rt.store.articles.article(SEED)
    payload = channel.payload(article)
    assert channel.post(payload) == channel.post(payload)  # a retry inside the hour
    assert len(mastodon.statuses) == 1


def test_an_answer_lost_is_settled_by_the_key_or_after_the_hour_by_the_lookup(rt, mastodon):
    mastodon.fail_path("POST", "/api/v1/statuses", "drop-after", times=1)  # posted, answer lost
    assert deliver(rt)[0] == "retry"
    mastodon.clock_offset = 4000  # the key has expired: only the lookup can tell
    outcome, entry = deliver(rt)
    assert outcome == "sent" and entry["note"] == "found after an uncertain attempt"
    assert len(mastodon.statuses) == 1


def test_unpublish_deletes_and_gone_is_fine(rt, mastodon):
    assert deliver(rt)[0] == "sent"
    event = {"id": "gone", "type": "article.unpublished", "article": {"id": SEED, "version": 9}}
    rt.store.articles.apply(ArticleEvent.from_payload("gone", event))
    outcome, entry = deliver(rt, "delete")
    assert outcome == "deleted" and mastodon.statuses == {}
    # Already gone on the instance (deleted by hand): still a success.
    rt.store.outbox.update(SEED, "mastodon", state="sent", delete_requested=1)
    assert deliver(rt, "delete")[0] == "deleted"


@pytest.mark.parametrize(
    "answer, outcome, ambiguous",
    [
        (
            (
                429,
                {"x-ratelimit-reset": "2099-01-01T00:00:00.000000Z"},
                {"error": "Too many requests"},
            ),
            "retry",
            "0",
        ),
        (
            (
                503,
                {},
                {"error": "There was a temporary problem serving your request, please try again"},
            ),
            "retry",
            "1",
        ),
        ((500, {}, {"error": "boom"}), "retry", "1"),
        ((401, {}, {"error": "The access token was revoked"}), "failed", "0"),
        ((403, {}, {"error": "This action is outside the authorized scopes"}), "failed", "0"),
        (
            (422, {}, {"error": "Validation failed: Text character limit of 500 exceeded"}),
            "failed",
            "0",
        ),
    ],
)
def test_the_retry_matrix(rt, mastodon, answer, outcome, ambiguous):
    mastodon.fail_path("POST", "/api/v1/statuses", ("answer", *answer), times=1)
    got, entry = deliver(rt)
    assert got == outcome and entry["in_flight"] == ambiguous
    if outcome == "retry":
        wait = float(entry["next_attempt_at"]) - float(entry["last_attempt_at"])
        assert (wait > 3600) == (answer[0] == 429)  # the ISO reset is honoured
        assert deliver(rt)[0] == "sent" and len(mastodon.statuses) == 1
    else:
        assert answer[2]["error"] in entry["last_error"]


def test_text_fits_graphemes_with_urls_as_23():
    event = load_fixture("seed-article-published")
    event["article"]["title"] = "👨‍👩‍👧‍👦" * 600
    article = ArticleEvent.from_payload("e", event).article
    text = status_text(article, 500)
    assert weight(text) <= 500 and text.endswith(article.url + " #NATO #Ukraine")


def test_check_and_share_link(rt, mastodon):
    assert rt.channels["mastodon"].health_check() == "authenticated as @news"
    from worker.social import share_links

    links = share_links(rt.settings, rt.store.articles.article(SEED))
    assert links["mastodon"].startswith(mastodon.url + "/share?text=")
    assert links["bluesky" if "bluesky" in links else "mastodon"]
