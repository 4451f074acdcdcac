"""Threads against a loopback fake (social_apis_more.md's checklist, tests/fakes.py
FakeThreads): the delivery state machine in-process on the session's Redis, one test per row
of the reference's retry matrix, the container kept before publishing, the quota waited for
without spending attempts, deletes within their own daily limit."""

from __future__ import annotations

import json

import pytest

from feeds.article import ArticleEvent
from syndicate.config import Settings
from tests.fakes import FakeThreads, threads_weight
from tests.support import load_fixture
from worker.delivery import Delivery
from worker.runtime import Runtime
from worker.social.threads import post_text, weight

SEED = "20230713-0001"
URL = load_fixture("seed-article-published")["article"]["url"]


@pytest.fixture
def threads():
    fake = FakeThreads()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def rt(service, settings_env, threads):
    runtime = Runtime(Settings.from_env({**settings_env, **threads.environment()}))
    event = load_fixture("seed-article-published")
    runtime.store.articles.apply(
        ArticleEvent.from_payload(event["id"], event), {"threads": ("pending", "")}
    )
    return runtime


def deliver(rt, action: str = "post") -> tuple[str, dict]:
    outcome = Delivery(rt, SEED, "threads").run(action)
    return outcome, rt.store.outbox.entry(SEED, "threads")


def unpublish(rt) -> None:
    event = {"id": "gone", "type": "article.unpublished", "article": {"id": SEED, "version": 9}}
    rt.store.articles.apply(ArticleEvent.from_payload("gone", event))


def publishes(fake: FakeThreads) -> list:
    return fake.received("POST", f"/v1.0/{FakeThreads.USER}/threads_publish")


def test_a_text_container_with_the_link_then_publish_once(rt, threads):
    outcome, entry = deliver(rt)
    assert outcome == "sent", entry
    [create] = [
        r for r in threads.received("POST") if r.path == f"/v1.0/{FakeThreads.USER}/threads"
    ]
    form = {k: v[0] for k, v in create.form.items()}
    seed = load_fixture("seed-article-published")["article"]
    assert form["media_type"] == "TEXT" and form["link_attachment"] == seed["url"]
    assert form["text"] == f"{seed['title']} #NATO" and form["access_token"] == FakeThreads.TOKEN
    [container] = threads.containers
    assert [p.form["creation_id"] for p in publishes(threads)] == [[container]]
    [media] = threads.media
    assert entry["remote_id"] == media != container  # the media id, not the container's
    assert entry["remote_url"] == threads.media[media]["permalink"]
    assert json.loads(entry["memo"])["container"]["id"] == container
    assert threads.tokens_in_urls == []  # the token never in a URL
    assert threads.containers[container]["tags"] == ["#NATO"]  # one topic tag


def test_the_text_fits_500_with_emoji_as_their_bytes_and_one_tag():
    event = load_fixture("seed-article-published")
    event["article"]["share"]["message"] = "Vilnius 👨‍👩‍👧‍👦 summit " * 60
    article = ArticleEvent.from_payload("e", event).article
    text = post_text(article)
    assert weight(text) <= 500 and threads_weight(text) <= 500 and text.endswith("… #NATO")
    event["article"]["share"]["message"] = "Already #tagged, no second tag"
    assert (
        post_text(ArticleEvent.from_payload("e", event).article)
        == event["article"]["share"]["message"]
    )


def test_the_container_is_kept_before_publishing_and_a_retry_publishes_it(rt, threads):
    threads.fault("threads.publish", "drop")  # closed before the publish took effect
    outcome, entry = deliver(rt)
    assert outcome == "retry" and entry["in_flight"] == "1"
    [container] = threads.containers  # kept in the entry before the publish was sent
    assert json.loads(entry["memo"])["container"]["id"] == container
    outcome, entry = deliver(rt)
    assert outcome == "sent" and list(threads.containers) == [container]
    assert len(threads.media) == 1 and len(publishes(threads)) == 2


def test_a_lost_publish_answer_is_settled_by_the_status_and_the_profile(rt, threads):
    threads.fault("threads.publish", "accept_drop")  # published; the answer never came
    assert deliver(rt)[0] == "retry"
    outcome, entry = deliver(rt)
    assert outcome == "sent" and entry["note"] == "found after an uncertain attempt"
    [media] = threads.media
    assert entry["remote_id"] == media and len(publishes(threads)) == 1  # never again
    assert threads.received("GET", f"/v1.0/{next(iter(threads.containers))}?")  # the status


def test_a_slow_publish_answer_is_settled_the_same_way(rt, threads):
    threads.fault("threads.publish", "slow")  # answered after the client's timeout
    assert deliver(rt)[0] == "retry"
    outcome, entry = deliver(rt)
    assert outcome == "sent" and len(threads.media) == 1 and len(publishes(threads)) == 1


@pytest.mark.parametrize("status", [500, 503])
def test_a_5xx_on_publish_checks_the_status_then_publishes_the_same_container(rt, threads, status):
    threads.fault("threads.publish", "error", status=status)
    outcome, entry = deliver(rt)
    assert outcome == "retry" and entry["in_flight"] == "1"
    outcome, entry = deliver(rt)
    assert outcome == "sent" and len(threads.containers) == 1 and len(threads.media) == 1


@pytest.mark.parametrize(
    "kind, outcome, containers",
    [
        ("drop", "retry", 1),  # nothing made: a new container
        ("accept_drop", "retry", 2),  # made but unknown: an orphan that expires, never published
        ("error", "retry", 1),
        ("rate_limit", "retry", 1),
        ("auth", "failed", 0),
    ],
)
def test_the_retry_matrix_on_container_creation(rt, threads, kind, outcome, containers):
    threads.fault("threads.create", kind)
    got, entry = deliver(rt)
    assert got == outcome, entry
    if outcome == "retry":
        assert deliver(rt)[0] == "sent"
        assert len(threads.media) == 1 and len(publishes(threads)) == 1
    else:
        assert "190" in entry["last_error"] and entry["attempts"] == "1"
    assert len(threads.containers) == containers


def test_an_invalid_container_fails_at_once_with_the_reason(rt, threads):
    threads.fail_path(
        "POST",
        f"/v1.0/{FakeThreads.USER}/threads",
        ("answer", *FakeThreads.error(100, "Param text is invalid")),
    )
    outcome, entry = deliver(rt)
    assert outcome == "failed" and "Param text is invalid" in entry["last_error"]
    assert entry["in_flight"] == "0" and publishes(threads) == []


def test_a_bad_token_on_publish_fails_at_once(rt, threads):
    threads.fault("threads.publish", "auth")
    outcome, entry = deliver(rt)
    assert outcome == "failed" and "190" in entry["last_error"] and threads.media == {}


@pytest.mark.parametrize("status", ["ERROR", "EXPIRED"])
def test_only_an_error_or_expired_container_is_replaced(rt, threads, status):
    threads.fault("threads.publish", "error")
    assert deliver(rt)[0] == "retry"
    [first] = threads.containers
    threads.containers[first]["status"] = status
    outcome, entry = deliver(rt)
    assert outcome == "sent" and len(threads.containers) == 2 and len(threads.media) == 1
    assert json.loads(entry["memo"])["container"]["id"] != first


def test_a_container_in_progress_waits_then_the_same_one_is_published(rt, threads):
    threads.new_status = "IN_PROGRESS"
    outcome, entry = deliver(rt)
    assert outcome == "retry" and "not ready" in entry["last_error"]
    assert deliver(rt)[0] == "retry"  # still processing: no publish is sent
    [container] = threads.containers
    threads.containers[container]["status"] = "FINISHED"
    assert deliver(rt)[0] == "sent" and list(threads.containers) == [container]


def test_a_full_quota_is_read_and_waited_for_without_spending_attempts(rt, threads):
    threads.quota_total, threads.quota_duration = 250, 2500  # one post's share: 10 s
    threads.fault("threads.publish", "rate_limit", seconds=60)  # the limit reads full meanwhile
    for _ in range(12):  # more than the retry policy's 10 attempts
        outcome, entry = deliver(rt)
        assert outcome == "retry" and "quota used up" in entry["last_error"]
    assert entry["attempts"] == "0" and entry["in_flight"] == "0"
    wait = float(entry["next_attempt_at"]) - float(entry["last_attempt_at"])
    assert 8 < wait < 12  # read from threads_publishing_limit, not the backoff
    assert publishes(threads) == [] and threads.containers == {}  # nothing spent on it
    threads.route_faults.clear()
    outcome, entry = deliver(rt)
    assert outcome == "sent" and entry["attempts"] == "1" and len(threads.media) == 1


def test_a_quota_refusal_on_publish_waits_then_publishes_the_same_container(rt, threads):
    # The limit read room, but the publish is refused for the quota (another app posted).
    threads.fail_path(
        "POST",
        f"/v1.0/{FakeThreads.USER}/threads_publish",
        (
            "answer",
            *FakeThreads.error(9, "Application request limit reached", error_subcode=2207042),
        ),
        times=1,
    )
    outcome, entry = deliver(rt)
    assert outcome == "retry" and entry["attempts"] == "0" and entry["in_flight"] == "0"
    wait = float(entry["next_attempt_at"]) - float(entry["last_attempt_at"])
    assert 300 < wait < 400  # one post's share of the day
    outcome, entry = deliver(rt)
    assert outcome == "sent" and len(threads.containers) == 1 and len(threads.media) == 1


def test_unpublish_deletes_and_gone_is_fine(rt, threads):
    assert deliver(rt)[0] == "sent"
    unpublish(rt)
    outcome, entry = deliver(rt, "delete")
    assert outcome == "deleted" and threads.media == {}
    rt.store.outbox.update(SEED, "threads", state="sent", delete_requested=1)
    assert deliver(rt, "delete")[0] == "deleted"  # already gone: code 100 / 33


def test_deletes_keep_to_their_own_daily_limit(rt, threads):
    assert deliver(rt)[0] == "sent"
    state = rt.store.channel_state("threads")
    import time

    state.set("deletes", [time.time() - 3600 + n for n in range(100)])  # 100 in the last day
    unpublish(rt)
    outcome, entry = deliver(rt, "delete")
    assert outcome == "retry" and "daily limit" in entry["last_error"]
    assert entry["delete_attempts"] == "0" and len(threads.media) == 1  # nothing sent
    wait = float(entry["next_attempt_at"]) - time.time()
    assert 22 * 3600 < wait < 24 * 3600  # until the oldest leaves the 24 hours
    state.set("deletes", [])
    assert deliver(rt, "delete")[0] == "deleted" and threads.media == {}
    assert len(state.get("deletes")) == 1


def test_a_5xx_on_delete_is_retried(rt, threads):
    assert deliver(rt)[0] == "sent"
    unpublish(rt)
    threads.fault("threads.delete", "error")
    assert deliver(rt, "delete")[0] == "retry"
    assert deliver(rt, "delete")[0] == "deleted" and threads.media == {}


def test_unpublished_after_a_lost_publish_answer_the_post_is_found_and_deleted(rt, threads):
    threads.fault("threads.publish", "accept_drop")
    assert deliver(rt)[0] == "retry"
    unpublish(rt)
    outcome, entry = deliver(rt)
    assert outcome == "sent" and entry["remote_id"] in threads.media
    assert deliver(rt, "delete")[0] == "deleted" and threads.media == {}


def test_unpublished_after_an_unpublished_container_nothing_is_posted(rt, threads):
    threads.fault("threads.publish", "error")
    assert deliver(rt)[0] == "retry"
    unpublish(rt)
    outcome, entry = deliver(rt)  # the container is FINISHED: never published
    assert outcome == "skipped" and threads.media == {} and len(publishes(threads)) == 1


def test_check_and_the_share_intent(rt, threads):
    assert rt.channels["threads"].health_check() == (
        f"profile {FakeThreads.USER}: 0 of 250 posts used in 24 h"
    )
    threads.fault("threads.quota", "auth")
    from worker.social.errors import PermanentError

    with pytest.raises(PermanentError, match="190"):
        rt.channels["threads"].health_check()
    from worker.social import share_links

    links = share_links(rt.settings, rt.store.articles.article(SEED))
    assert links["threads"].startswith("https://www.threads.net/intent/post?text=NATO%20Summit")
    assert links["threads"].endswith("%20" + URL.replace(":", "%3A").replace("/", "%2F"))


def test_a_user_id_that_is_not_numeric_is_a_configuration_error(settings_env):
    from syndicate.config import ConfigError
    from worker.social import network_settings

    env = {
        **settings_env,
        "SYNDICATE_THREADS_USER_ID": "../me/accounts",
        "SYNDICATE_THREADS_TOKEN": "t",
    }
    with pytest.raises(ConfigError, match="numeric Threads profile id"):
        network_settings(Settings.from_env(env))
