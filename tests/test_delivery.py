"""worker/delivery.py: the delivery state machine in-process against the loopback fakes of
tests/fakes.py, one run at a time (`Delivery(...).run`), on the test Redis. The end-to-end
rows of the retry matrix, through the real worker, are tests/test_sharing.py's; the first
state-machine cases are tests/test_domain.py's.

Entries are written by the store's apply (worker/store/articles.py), never enqueued, so the
worker process the `service` fixture runs leaves them alone."""

from __future__ import annotations

import copy
import threading

from feeds.article import Article, ArticleEvent
from tests.fakes import FakeFacebook
from tests.support import load_fixture, wait_for
from worker import trace
from worker.delivery import Delivery, outbox_plan
from worker.social import NETWORKS
from worker.store import keys

FEED = f"/v25.0/{FakeFacebook.PAGE}/feed"


def article_event(article_id: str, version: int = 1, **changes) -> ArticleEvent:
    payload = copy.deepcopy(load_fixture("seed-article-published"))
    payload["article"].update(
        id=article_id,
        version=version,
        url=f"https://news.example.org/news/{article_id}.html",
        **changes,
    )
    return ArticleEvent.from_payload(f"evt-{article_id}-{version}", payload)


def publish(rt, article_id: str, networks: tuple[str, ...], traceparent: str = "") -> None:
    plan = {n: ("pending", "") for n in networks}
    rt.store.articles.apply(article_event(article_id), plan, traceparent=traceparent)


def unpublish(rt, article_id: str) -> None:
    payload = {"id": "gone", "type": "article.unpublished", "article": {"id": article_id}}
    payload["article"]["version"] = 2
    rt.store.articles.apply(ArticleEvent.from_payload(f"gone-{article_id}", payload))


def run(rt, article_id: str, network: str, action: str = "post") -> tuple[str, dict]:
    outcome = Delivery(rt, article_id, network).run(action)
    return outcome, rt.store.outbox.entry(article_id, network)


# The trace each call carries -----------------------------------------------------------------
def test_concurrent_deliveries_each_carry_their_own_traceparent_and_leave_none_behind(
    service, fakes
):
    """One Facebook channel (one session) serves both runs. A is in the middle of its run (its
    lookup after an uncertain attempt is slow to answer) while B runs from start to end; A's
    post that follows must still carry A's trace, and a call after both carries none."""
    rt = service.client.app.state.runtime
    trace_a, trace_b = trace.accept(None), trace.accept(None)
    publish(rt, "trace-a", ("facebook",), trace_a)
    publish(rt, "trace-b", ("facebook",), trace_b)
    rt.store.outbox.update("trace-a", "facebook", in_flight=1)  # an attempt may have posted
    fakes.facebook.fail_path("GET", FEED, ("sleep", 1.0), times=1)  # A's lookup, answered late

    outcomes: dict[str, str] = {}
    a = threading.Thread(target=lambda: outcomes.update(a=run(rt, "trace-a", "facebook")[0]))
    a.start()
    wait_for(lambda: fakes.facebook.received("GET", FEED), what="A's lookup")
    outcomes["b"] = run(rt, "trace-b", "facebook")[0]  # all of B while A waits
    a.join(10)
    assert outcomes == {"a": "sent", "b": "sent"}

    posts = {
        p.form["link"][0].rsplit("/", 1)[1]: p.headers.get("traceparent", "")
        for p in fakes.facebook.received("POST", FEED)
    }
    [lookup] = fakes.facebook.received("GET", FEED)
    assert trace.trace_id(lookup.headers.get("traceparent")) == trace.trace_id(trace_a)
    assert trace.trace_id(posts["trace-a.html"]) == trace.trace_id(trace_a)
    assert trace.trace_id(posts["trace-b.html"]) == trace.trace_id(trace_b)
    assert posts["trace-a.html"] == lookup.headers["traceparent"] != trace_a  # the run's span

    channel = rt.channels["facebook"]
    assert "traceparent" not in channel.session.headers
    channel.health_check()  # outside any delivery
    assert "traceparent" not in fakes.facebook.received("GET", "/v25.0/me")[-1].headers


# What each network does with an article ------------------------------------------------------
def test_the_plan_posts_where_wanted_and_configured_and_says_why_not_elsewhere(service):
    rt = service.client.app.state.runtime
    article = article_event("plan").article
    assert isinstance(article, Article)
    on = set(rt.channels)
    assert on == {"twitter", "facebook", "googleplus"}  # tests/fakes.py's environment

    plan = outbox_plan(rt, article)  # the seed wants googleplus, facebook and twitter
    assert set(plan) == set(NETWORKS)
    for network, (state, reason) in plan.items():
        if network in on:
            assert (state, reason) == ("pending", "")
        else:
            assert (state, reason) == ("skipped", "not in the article's share.networks")

    everywhere = article_event("plan", share={}).article
    assert everywhere is not None and everywhere.share.networks is None
    for network, (state, reason) in outbox_plan(rt, everywhere).items():
        expected = ("pending", "") if network in on else ("skipped", "channel not configured")
        assert (state, reason) == expected

    nowhere = article_event("plan", share={"networks": []}).article
    assert nowhere is not None
    assert {state for state, _ in outbox_plan(rt, nowhere).values()} == {"skipped"}


# Runs that do nothing ------------------------------------------------------------------------
def test_a_run_for_a_network_that_is_off_or_an_entry_another_worker_holds_does_nothing(
    service, fakes
):
    rt = service.client.app.state.runtime
    publish(rt, "held", ("twitter",))
    assert Delivery(rt, "held", "linkedin").run("post") == "channel off"
    assert rt.store.outbox.lock("held", "twitter", 30)  # another worker's run
    outcome, entry = run(rt, "held", "twitter")
    assert outcome == "busy" and entry["state"] == "pending" and entry["attempts"] == "0"
    assert fakes.twitter.received() == []


# Unpublished after an attempt that may have posted --------------------------------------------
def test_retracted_after_an_uncertain_attempt_a_network_that_shows_no_post_is_skipped(
    service, fakes
):
    rt = service.client.app.state.runtime
    publish(rt, "unsure", ("facebook",))
    rt.store.outbox.update("unsure", "facebook", in_flight=1, attempts=1)
    unpublish(rt, "unsure")
    outcome, entry = run(rt, "unsure", "facebook")
    assert (
        outcome == "skipped" and entry["reason"] == "unpublished; the network shows no earlier post"
    )
    assert entry["in_flight"] == "0" and entry["delete_requested"] == "0"
    assert entry["attempts"] == "2"  # the lookup counted
    assert len(fakes.facebook.received("GET", FEED)) == 1
    assert fakes.facebook.received("POST") == []
    assert service.redis.zscore(keys.DEAD, "delivery:unsure:facebook") is None


def test_retracted_after_an_uncertain_attempt_a_network_without_search_asks_the_editor(
    service, fakes
):
    rt = service.client.app.state.runtime
    publish(rt, "unsure", ("twitter",))
    rt.store.outbox.update("unsure", "twitter", in_flight=1, attempts=1)
    unpublish(rt, "unsure")
    outcome, entry = run(rt, "unsure", "twitter")
    assert outcome == "skipped" and "twitter cannot be searched" in entry["reason"]
    assert "delete it by hand" in entry["reason"]
    assert service.redis.zscore(keys.DEAD, "delivery:unsure:twitter") is not None
    assert fakes.twitter.received() == []  # neither a lookup nor a post


# Deletes that cannot be made ----------------------------------------------------------------
def test_a_delete_without_a_remote_id_or_on_a_network_without_delete_is_kept(service, fakes):
    rt = service.client.app.state.runtime
    publish(rt, "kept", ("twitter", "googleplus"))
    assert run(rt, "kept", "twitter")[0] == "sent"
    assert run(rt, "kept", "googleplus")[0] == "sent"
    rt.store.outbox.update("kept", "twitter", remote_id="")  # the answer had no usable id
    unpublish(rt, "kept")

    outcome, entry = run(rt, "kept", "twitter", "delete")
    assert outcome == "kept" and entry["state"] == "sent" and entry["delete_requested"] == "0"
    assert entry["last_error"] == "remote id unknown: delete the post by hand"
    outcome, entry = run(rt, "kept", "googleplus", "delete")
    assert outcome == "kept" and entry["note"] == "googleplus has no delete"
    assert fakes.twitter.received("DELETE") == [] and fakes.googleplus.received("DELETE") == []
    open_entries = {m.decode() for m in service.redis.zrange(keys.OPEN, 0, -1)}
    assert not {"kept\ttwitter", "kept\tgoogleplus"} & open_entries  # nothing left to do
