"""Direct unit tests of the domain rules, next to the end-to-end tests that drive the worker:
the lifecycle of an article (feeds/lifecycle.py, feeds/ordering.py), the retry policies
(worker/retry.py), the store's apply (worker/store/articles.py) on a real Redis, and the
delivery state machine (worker/delivery.py) against the loopback fakes."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest

from feeds.article import ArticleEvent
from feeds.lifecycle import Stored, decide
from feeds.ordering import supersedes
from tests.support import load_fixture
from worker.delivery import Delivery
from worker.retry import DELIVERY, EVENT, PING, RENDER, Retry
from worker.store import keys

T0 = datetime(2023, 7, 13, 18, 0, tzinfo=UTC)


def event(kind: str = "article.published", version: int | None = 1, **changes) -> ArticleEvent:
    payload = copy.deepcopy(load_fixture("seed-article-published"))
    payload["type"] = kind
    payload["article"]["version"] = version
    if version is None:
        del payload["article"]["version"]
    payload["article"].update(changes)
    return ArticleEvent.from_payload(f"evt-{kind}-{version}", payload)


# Lifecycle -------------------------------------------------------------------------------------
def test_a_first_publish_joins_every_feed_and_is_shared():
    change = decide(None, event())
    assert change.outcome == "applied" and change.state == "published"
    assert change.first_publish and not change.retracted
    assert "all" in change.feeds and "tag/nato" in change.feeds
    assert change.touched == change.feeds


def test_an_update_moves_feeds_and_is_never_shared_again():
    stored = Stored("published", 1, T0, ("all", "tag/old"), first_published_at="2023-07-13T18:00Z")
    change = decide(stored, event(version=2, tags=["NATO"]))
    assert change.outcome == "applied" and not change.first_publish
    assert change.leave == ("tag/old",)
    assert "tag/old" in change.touched and "tag/nato" in change.touched


def test_older_and_equal_versions_change_nothing():
    stored = Stored("published", 3, T0, ("all",), first_published_at="x")
    assert decide(stored, event(version=2)).outcome == "stale"
    same = ArticleEvent.from_payload("e", {**load_fixture("seed-article-published")})
    stored_same = Stored("published", same.version, same.updated_at, ("all",), "x")
    assert decide(stored_same, same).outcome == "duplicate"


def test_an_unpublish_retracts_only_what_was_published():
    stored = Stored("published", 1, T0, ("all", "tag/nato"), first_published_at="x")
    change = decide(stored, event("article.unpublished", version=2))
    assert change.state == "unpublished" and change.retracted
    assert change.leave == ("all", "tag/nato") and change.feeds == ()
    again = decide(Stored("unpublished", 2, T0, (), "x"), event("article.unpublished", version=3))
    assert again.outcome == "applied" and not again.retracted and again.touched == ()


def test_a_purged_tombstone_is_final_whatever_the_version():
    tombstone = Stored("purged", 1, T0, (), first_published_at="x")
    for version in (1, 2, 10**6):
        change = decide(tombstone, event(version=version))
        assert change.outcome == "purged" and change.state == "purged" and not change.touched


def test_an_unpurged_article_applies_the_next_event_and_is_not_shared_again():
    unpurged = Stored("unpurged", 7, T0, (), first_published_at="x")  # what unpurge keeps
    change = decide(unpurged, event(version=1))
    assert change.outcome == "applied" and not change.first_publish


@pytest.mark.parametrize(
    "incoming, stored, expected",
    [
        ((2, None, True), (1, None, True), True),
        ((1, None, True), (2, None, True), False),
        ((None, T0 + timedelta(seconds=1), True), (None, T0, True), True),
        ((None, T0, True), (None, T0 + timedelta(seconds=1), True), False),
        ((1, T0, False), (1, T0, True), True),  # a retraction of the same version wins
        ((1, T0, True), (1, T0, False), False),  # ...and is not undone by the same version again
        ((None, None, False), (5, T0, True), True),  # an unpublish with nothing to compare retracts
    ],
)
def test_supersedes(incoming, stored, expected):
    assert supersedes(*incoming, *stored) is expected


# Retry policies ----------------------------------------------------------------------------------
@pytest.mark.parametrize("policy", [EVENT, RENDER, DELIVERY, PING])
def test_backoff_grows_with_equal_jitter_and_stays_under_the_cap(policy: Retry):
    base = 2.0
    for attempt in range(1, 15):
        delay = min(policy.cap_s, base * 2 ** (attempt - 1))
        for _ in range(20):
            wait = policy.backoff_s(attempt, base)
            assert delay / 2 <= wait <= delay
    assert not policy.gives_up(policy.max_attempts - 1) and policy.gives_up(policy.max_attempts)


# The store's apply, on the test Redis ---------------------------------------------------------------
def test_apply_writes_article_membership_intent_and_dirty_feeds_in_one_go(service):
    store = service.client.app.state.runtime.store
    plan = {
        "twitter": ("pending", ""),
        "facebook": ("skipped", "not in the article's share.networks"),
    }
    applied = store.articles.apply(event(), plan)
    assert applied.outcome == "applied" and applied.first_publish
    r = service.redis
    assert r.zscore(keys.items_key("tag/nato"), "20230713-0001") is not None
    assert r.hget(keys.entry_key("20230713-0001", "twitter"), "state") == b"pending"
    assert r.zscore(keys.OPEN, "20230713-0001\ttwitter") is not None
    assert r.hget(keys.entry_key("20230713-0001", "facebook"), "state") == b"skipped"
    assert r.zscore(keys.OPEN, "20230713-0001\tfacebook") is None
    # Marked in the same MULTI: each touched feed's version moved (the session's renderer may
    # already have taken it off the dirty set again).
    assert all(int(r.get(keys.version_key(f)) or 0) >= 1 for f in applied.touched_feeds)

    gone = store.articles.apply(event("article.unpublished", version=2), {})
    assert gone.unpublished and gone.state == "unpublished"
    assert r.zscore(keys.items_key("tag/nato"), "20230713-0001") is None
    assert r.zscore(keys.deleted_key("tag/nato"), "20230713-0001") is not None
    assert r.hget(keys.entry_key("20230713-0001", "twitter"), "delete_requested") == b"1"
    assert r.hget(keys.article_key("20230713-0001"), "doc") is None  # retraction means gone
    assert store.articles.apply(event(version=1), {}).outcome == "stale"


# The delivery state machine, in-process against the fakes ---------------------------------------------
def _deliver(service, network: str = "twitter") -> tuple[str, dict]:

    rt = service.client.app.state.runtime
    outcome = Delivery(rt, "20230713-0001", network).run("post")
    return outcome, rt.store.outbox.entry("20230713-0001", network)


def _publish(service, networks=("twitter",)) -> None:
    rt = service.client.app.state.runtime
    rt.store.articles.apply(event(), {n: ("pending", "") for n in networks})


def test_delivery_pending_to_sent_records_the_remote_id(service, fakes):
    _publish(service)
    outcome, entry = _deliver(service)
    assert outcome == "sent" and entry["state"] == "sent" and entry["in_flight"] == "0"
    assert entry["remote_id"] in fakes.twitter.posts and entry["attempts"] == "1"
    assert _deliver(service)[0] == "sent"  # a rerun changes nothing
    assert len(fakes.twitter.posts) == 1


def test_delivery_after_an_uncertain_attempt_looks_first(service, fakes):
    _publish(service, ("facebook",))
    fakes.facebook.fail_next("drop-after")  # posted, answer lost
    outcome, entry = _deliver(service, "facebook")
    assert outcome == "retry" and entry["in_flight"] == "1"
    outcome, entry = _deliver(service, "facebook")
    assert outcome == "sent" and entry["note"] == "found after an uncertain attempt"
    assert len(fakes.facebook.posts) == 1 and entry["attempts"] == "2"  # the lookup counted


def test_delivery_of_a_retracted_article_never_posts(service, fakes):
    _publish(service)
    service.client.app.state.runtime.store.articles.apply(event("article.unpublished", version=2))
    outcome, entry = _deliver(service)
    assert outcome == "skipped" and entry["reason"] == "unpublished before it was shared"
    assert fakes.twitter.received("POST") == []


def test_delivery_refused_for_good_fails_with_the_reason_and_a_dead_letter(service, fakes):
    _publish(service)
    fakes.twitter.fail_next(("answer", 403, {}, {"title": "Forbidden", "detail": "not allowed"}))
    outcome, entry = _deliver(service)
    assert outcome == "failed" and "not allowed" in entry["last_error"]
    assert service.redis.zscore(keys.DEAD, "delivery:20230713-0001:twitter") is not None


# A network is one module ---------------------------------------------------------------------
def test_the_registry_finds_every_network_module_and_nothing_else_names_one():
    """worker/social/<network>.py is all a network is: the registry finds each module by
    itself, and no other module of the service spells a network's name (feeds/share.py keeps
    the classic payloads and share links, pure)."""
    import ast
    import pkgutil
    import re

    import worker.social as social
    from tests.support import ROOT

    modules = {m.name for m in pkgutil.iter_modules(social.__path__)} - {"base", "errors"}
    assert {cls.__module__.rsplit(".", 1)[1] for cls in social.REGISTRY.values()} == modules
    for name, cls in social.REGISTRY.items():
        assert cls.name == name and cls.settings_class is not None
        assert cls.health_check is not social.Channel.health_check, name
    names = re.compile("|".join(social.NETWORKS))
    for path in [
        *ROOT.glob("worker/**/*.py"),
        *ROOT.glob("api/**/*.py"),
        *ROOT.glob("syndicate/*.py"),
        *ROOT.glob("feeds/*.py"),
    ]:
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith("worker/social/") or relative == "feeds/share.py":
            continue
        source = path.read_text()
        prose: set[int] = set()  # docstrings: prose may say "worker threads"; code may not
        for node in ast.walk(ast.parse(source)):
            if (
                isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                and ast.get_docstring(node, clean=False) is not None
            ):
                doc = node.body[0]
                prose.update(range(doc.lineno, (doc.end_lineno or doc.lineno) + 1))
        code = "\n".join(
            line
            for n, line in enumerate(source.splitlines(), 1)
            if n not in prose and not line.strip().startswith("#")
        )
        # A URL is not a network's name in code (ActivityPub's `http://joinmastodon.org/ns#`
        # JSON-LD context is a vocabulary, not the Mastodon channel).
        code = re.sub(r"[a-z][a-z0-9+.-]*://[^\s\"']+", "", code)
        assert not names.search(code), relative
