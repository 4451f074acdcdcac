"""LinkedIn against a loopback fake of the Posts API (social_apis_more.md's checklist,
tests/fakes.py FakeLinkedIn): the delivery state machine in-process on the session's Redis,
one test per row of the retry matrix, the versioned headers, the little text format as
LinkedIn shows it, the 422 duplicate answer naming the one post."""

from __future__ import annotations

import json

import pytest

from feeds.article import ArticleEvent
from syndicate.config import Settings
from tests.fakes import FakeLinkedIn, little_shown
from tests.support import load_fixture
from worker.delivery import Delivery
from worker.runtime import Runtime
from worker.social.linkedin import commentary, escape

SEED = "20230713-0001"
SEED_ARTICLE = load_fixture("seed-article-published")["article"]


@pytest.fixture
def linkedin():
    fake = FakeLinkedIn()
    fake.start()
    yield fake
    fake.stop()


def runtime(settings_env, linkedin, **env: str) -> Runtime:
    return Runtime(Settings.from_env({**settings_env, **linkedin.environment(), **env}))


@pytest.fixture
def rt(service, settings_env, linkedin):
    rt = runtime(settings_env, linkedin)
    event = load_fixture("seed-article-published")
    rt.store.articles.apply(
        ArticleEvent.from_payload(event["id"], event), {"linkedin": ("pending", "")}
    )
    return rt


def deliver(rt, action: str = "post") -> tuple[str, dict]:
    outcome = Delivery(rt, SEED, "linkedin").run(action)
    return outcome, rt.store.outbox.entry(SEED, "linkedin")


def creates(fake: FakeLinkedIn) -> list:
    return fake.received("POST", "/rest/posts")


def test_an_article_post_with_the_versioned_headers(rt, linkedin):
    outcome, entry = deliver(rt)
    assert outcome == "sent", entry
    [create] = creates(linkedin)
    assert create.headers["linkedin-version"] == FakeLinkedIn.version()
    assert create.headers["x-restli-protocol-version"] == "2.0.0"
    assert create.headers["authorization"] == f"Bearer {FakeLinkedIn.TOKEN}"
    body = create.json
    assert body["author"] == FakeLinkedIn.AUTHOR and body["visibility"] == "PUBLIC"
    assert body["distribution"]["feedDistribution"] == "MAIN_FEED"
    assert body["lifecycleState"] == "PUBLISHED"
    article = body["content"]["article"]
    assert article["source"] == SEED_ARTICLE["url"] and article["title"] == SEED_ARTICLE["title"]
    assert "military alliance" in article["description"]
    [urn] = linkedin.posts
    assert entry["remote_id"] == urn and urn.startswith("urn:li:share:")
    assert entry["remote_url"] == f"https://www.linkedin.com/feed/update/{urn}/"
    shown = linkedin.posts[urn]["shown"]
    assert shown.endswith("#NATO #Ukraine") and "military alliance" in shown


def test_reserved_characters_are_escaped_so_linkedin_shows_the_whole_text(rt, linkedin):
    message = r"Budget (2025) vs. [draft] {v2} @desk <b> *really* _now_ ~maybe | 50% #1 \o/"
    assert little_shown(message) == "Budget "  # unescaped: LinkedIn cuts it here
    assert little_shown(escape(message)) == message
    event = load_fixture("seed-article-published")
    event["article"]["share"]["message"] = message
    article = ArticleEvent.from_payload("e", event).article
    message = article.share.message  # as intake keeps it (markup removed)
    assert "(2025)" in message and "#1 \\o/" in message
    assert little_shown(commentary(article)) == message + "\n\n#NATO #Ukraine"
    channel = rt.channels["linkedin"]
    urn = channel.post(channel.payload(article))
    assert linkedin.posts[urn]["shown"] == message + "\n\n#NATO #Ukraine"


def test_commentary_fits_3000_after_escaping():
    event = load_fixture("seed-article-published")
    event["article"]["share"]["message"] = "(x) " * 2000
    text = commentary(ArticleEvent.from_payload("e", event).article)
    assert len(text) <= 3000 and little_shown(text).endswith("…\n\n#NATO #Ukraine")


def test_a_lost_answer_is_settled_by_the_duplicate_answer_naming_the_post(rt, linkedin):
    linkedin.readable = False  # a token that may post but not read (w_member_social)
    linkedin.fault("linkedin.create", "accept_drop")  # created; the answer never came
    outcome, entry = deliver(rt)
    assert outcome == "retry" and entry["in_flight"] == "1"
    outcome, entry = deliver(rt)
    [urn] = linkedin.posts
    assert outcome == "sent" and entry["remote_id"] == urn, entry
    first, second = creates(linkedin)
    assert first.body == second.body  # exactly the same bytes, stored with the intent
    assert json.loads(entry["payload"]) == first.json


def test_a_lost_answer_is_found_in_the_authors_posts_where_readable(rt, linkedin):
    linkedin.fault("linkedin.create", "slow")
    assert deliver(rt)[0] == "retry"
    outcome, entry = deliver(rt)
    [urn] = linkedin.posts
    assert outcome == "sent" and entry["remote_id"] == urn
    assert entry["note"] == "found after an uncertain attempt" and len(creates(linkedin)) == 1


@pytest.mark.parametrize(
    "kind, status, outcome, ambiguous",
    [
        ("drop", 500, "retry", "1"),
        ("error", 500, "retry", "1"),
        ("error", 503, "retry", "1"),
        ("rate_limit", 429, "retry", "0"),
        ("auth", 401, "failed", "0"),
    ],
)
def test_the_retry_matrix(rt, linkedin, kind, status, outcome, ambiguous):
    linkedin.fault("linkedin.create", kind, status=status)
    got, entry = deliver(rt)
    assert got == outcome and entry["in_flight"] == ambiguous, entry
    if outcome == "retry":
        wait = float(entry["next_attempt_at"]) - float(entry["last_attempt_at"])
        assert wait < 5  # no reset header on a 429: the backoff
        assert deliver(rt)[0] == "sent" and len(linkedin.posts) == 1
    else:
        assert "REVOKED_ACCESS_TOKEN" in entry["last_error"] and linkedin.posts == {}


@pytest.mark.parametrize(
    "env, expected",
    [
        ({"SYNDICATE_LINKEDIN_AUTHOR": "urn:li:organization:1"}, "HTTP 403"),
        ({"SYNDICATE_LINKEDIN_VERSION": "202301"}, "HTTP 426"),
        ({"SYNDICATE_LINKEDIN_TOKEN": "wrong"}, "INVALID_ACCESS_TOKEN"),
    ],
)
def test_refusals_fail_at_once_with_the_reason(service, settings_env, linkedin, env, expected):
    rt = runtime(settings_env, linkedin, **env)
    event = load_fixture("seed-article-published")
    rt.store.articles.apply(
        ArticleEvent.from_payload(event["id"], event), {"linkedin": ("pending", "")}
    )
    outcome, entry = deliver(rt)
    assert outcome == "failed" and expected in entry["last_error"], entry
    assert entry["attempts"] == "1" and linkedin.posts == {}


def test_an_invalid_payload_fails_at_once(rt, linkedin):
    linkedin.fail_path(
        "POST",
        "/rest/posts",
        (
            "answer",
            *FakeLinkedIn.error(
                422,
                "/commentary :: length exceeds 3000",
                errorDetails={"inputErrors": [{"code": "INVALID_LENGTH", "input": {}}]},
            ),
        ),
    )
    outcome, entry = deliver(rt)
    assert outcome == "failed" and "length exceeds" in entry["last_error"]


def test_a_duplicate_of_a_live_post_counts_as_that_post(rt, linkedin):
    """The same post made earlier (by hand, or by a run whose state was lost): LinkedIn names
    it, and it is the one post."""
    channel = rt.channels["linkedin"]
    urn = channel.post(channel.payload(rt.store.articles.article(SEED)))
    outcome, entry = deliver(rt)
    assert outcome == "sent" and entry["remote_id"] == urn and len(linkedin.posts) == 1


def test_a_duplicate_naming_a_deleted_post_fails_with_the_reason(rt, linkedin):
    linkedin.fail_path(
        "POST",
        "/rest/posts",
        (
            "answer",
            *FakeLinkedIn.error(
                422,
                "Content is a duplicate of urn:li:share:7141138937766391000",
                errorDetails={"inputErrors": [{"code": "DUPLICATE_POST", "input": {}}]},
            ),
        ),
    )
    outcome, entry = deliver(rt)
    assert outcome == "failed" and "does not exist" in entry["last_error"]
    assert len(creates(linkedin)) == 1  # not posted again


def test_unpublish_deletes_by_the_encoded_urn_and_gone_is_fine(rt, linkedin):
    outcome, entry = deliver(rt)
    urn = entry["remote_id"]
    event = {"id": "gone", "type": "article.unpublished", "article": {"id": SEED, "version": 9}}
    rt.store.articles.apply(ArticleEvent.from_payload("gone", event))
    linkedin.fault("linkedin.delete", "rate_limit")
    assert deliver(rt, "delete")[0] == "retry"  # 429 waits
    assert deliver(rt, "delete")[0] == "deleted" and linkedin.posts == {}
    [*_, last] = linkedin.received("DELETE")
    assert last.path == "/rest/posts/" + urn.replace(":", "%3A")
    rt.store.outbox.update(SEED, "linkedin", state="sent", delete_requested=1)
    assert deliver(rt, "delete")[0] == "deleted"  # again: 204


def test_check_warns_as_the_version_ages_and_fails_once_sunset(service, settings_env, linkedin):
    from worker.social.errors import HealthWarning, PermanentError

    assert (
        runtime(settings_env, linkedin)
        .channels["linkedin"]
        .health_check()
        .startswith(f"posts of {FakeLinkedIn.AUTHOR} readable")
    )
    linkedin.readable = False
    assert (
        "reading posts is not permitted"
        in runtime(settings_env, linkedin).channels["linkedin"].health_check()
    )
    old = runtime(settings_env, linkedin, SYNDICATE_LINKEDIN_VERSION=FakeLinkedIn.version(10))
    with pytest.raises(HealthWarning, match="10 months old"):
        old.channels["linkedin"].health_check()
    sunset = runtime(settings_env, linkedin, SYNDICATE_LINKEDIN_VERSION=FakeLinkedIn.version(14))
    with pytest.raises(PermanentError, match="426"):
        sunset.channels["linkedin"].health_check()


def test_the_share_url_and_malformed_settings(rt, settings_env):
    from syndicate.config import ConfigError
    from worker.social import network_settings, share_links

    links = share_links(rt.settings, rt.store.articles.article(SEED))
    assert links["linkedin"] == (
        "https://www.linkedin.com/sharing/share-offsite/?url="
        "https%3A%2F%2Fnews.example.org%2Fnews%2FNATO-Summit-in-"
        "Lithuania-Ends-Amid-Division-20230713-0001.html"
    )
    for name, value in (
        ("SYNDICATE_LINKEDIN_AUTHOR", "org 5515715"),
        ("SYNDICATE_LINKEDIN_VERSION", "2026-11"),
    ):
        with pytest.raises(ConfigError, match=name):
            network_settings(Settings.from_env({**settings_env, name: value}))
