"""Dead letters, on the real Redis and (where work is replayed) the real worker: each is written
with a reason code, and the operator's hint is a lookup on it (letters from before reasons
still get one from their error's words); listing and replay go through the table of kinds of
work (worker/work.py), so a kind added there alone is listed and replayed like the others."""

from __future__ import annotations

import inspect

import pytest

from syndicate.config import public_hub_url
from tests.support import SEED_ID, publish, send, wait_for, wait_states
from worker import work
from worker.deadletters import dead_letters, replay, resolve
from worker.runtime import Runtime
from worker.store import keys
from worker.store.dead import REASONS, Reason, for_status, reason_of, render_letter

TWITTER = f"delivery:{SEED_ID}:twitter"
REFUSED_401 = (
    "answer",
    401,
    {},
    {"title": "Unauthorized", "status": 401, "detail": "Unauthorized"},
)

# What the operator reads for a failed tweet, by reason: who failed and what to do.
TWEET_HINTS = {
    Reason.AUTH: ("Twitter refused the credentials", "token expired", "SYNDICATE_TWITTER_"),
    Reason.REMOTE_4XX: ("Twitter refused it (permission or content)", "check the account"),
    Reason.INVALID: ("Twitter refused what was sent as invalid",),
    Reason.RATE_LIMITED: ("Twitter kept limiting our rate",),
    Reason.REMOTE_5XX: ("Twitter kept failing", "once it is back"),
    Reason.TIMEOUT: ("Twitter kept not answering in time",),
    Reason.UNREACHABLE: ("Twitter could not be reached",),
    Reason.DUPLICATE: ("Twitter refused it as a duplicate",),
    Reason.MAYBE_POSTED: ("Look on Twitter for a post of this article", "delete it by hand"),
    Reason.INTERNAL: ("Press Retry once the cause is fixed.",),  # the delivery kind's own
    Reason.OTHER: ("Press Retry once the cause is fixed.",),
}


def _item(rt: Runtime, name: str) -> dict:
    [item] = [i for i in dead_letters(rt) if i["name"] == name]
    return item


@pytest.mark.parametrize("reason", list(Reason))
def test_a_letter_written_with_each_reason_gets_its_hint(clean_redis, settings, reason):
    assert set(TWEET_HINTS) == set(Reason)  # every code has its expected words here
    rt = Runtime(settings)
    rt.store.dead.add(TWITTER, reason)
    item = _item(rt, TWITTER)
    assert item["reason"] == reason.value and item["network"] == "twitter"
    for words in TWEET_HINTS[reason]:
        assert words in item["hint"], (reason, item["hint"])
    assert "remote" not in item and "credentials" not in item  # for the hint only


def test_a_kind_with_a_remote_of_its_own_names_it_and_its_settings(clean_redis, settings):
    rt = Runtime(settings)
    rt.store.dead.add("indexnow:batch-1", Reason.AUTH)
    rt.store.dead.add("podping:podcast", Reason.REMOTE_5XX)
    rt.store.dead.add("event:evt-1", Reason.TIMEOUT)  # an event's hint is its kind's, always
    assert "IndexNow refused the credentials" in _item(rt, "indexnow:batch-1")["hint"]
    assert "set SYNDICATE_INDEXNOW_KEY" in _item(rt, "indexnow:batch-1")["hint"]
    assert _item(rt, "podping:podcast")["hint"].startswith("Podping kept failing")
    assert _item(rt, "event:evt-1")["hint"].startswith("The event could not be applied")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("HTTP 401: Unauthorized", Reason.AUTH),
        ("gave up after 5 attempts: HTTP 503: Service Unavailable", Reason.REMOTE_5XX),
        ("gave up after 5 attempts: HTTP 429: Too Many Requests", Reason.RATE_LIMITED),
        ("HTTP 403: You are not permitted to perform this action.", Reason.REMOTE_4XX),
        ("HTTP 422: Validation failed: Text can't be blank", Reason.INVALID),
        ("code 190: Error validating access token", Reason.AUTH),  # Facebook's Graph API
        ("HTTP 400: (190/463) Session has expired", Reason.AUTH),  # Threads'
        ("code 506: Duplicate status message", Reason.DUPLICATE),
        ("HTTP 204, HTTP 502", Reason.REMOTE_5XX),  # a hub that took one format, not the other
        ("ReadTimeout: HTTPSConnectionPool(host='x'): Read timed out.", Reason.TIMEOUT),
        ("no answer (ConnectionError)", Reason.UNREACHABLE),
        ("unreachable: ConnectTimeout", Reason.TIMEOUT),
        ("refused: not a public address", Reason.UNREACHABLE),
        ("KeyError: 'article'", Reason.OTHER),
    ],
)
def test_the_reason_of_the_texts_our_writers_hold(text, reason):
    assert reason_of(text) is reason


def test_the_reason_of_an_http_status():
    assert [for_status(s) for s in (0, 401, 404, 408, 429, 400, 500)] == [
        Reason.UNREACHABLE,
        Reason.AUTH,
        Reason.REMOTE_4XX,
        Reason.TIMEOUT,
        Reason.RATE_LIMITED,
        Reason.INVALID,
        Reason.REMOTE_5XX,
    ]


@pytest.mark.parametrize("prefix", sorted(work.LETTERS))
def test_every_kind_in_the_table_can_be_shown_and_replayed(prefix):
    letters = work.LETTERS[prefix]
    assert letters.prefix == prefix and letters.hint
    for path in (letters.show, letters.replay):
        assert list(inspect.signature(resolve(path)).parameters)[:1] == ["rt"], path


# A kind of work that exists only as an entry in the table: listed and replayed all the same.
SHOWN: list[str] = []
REPLAYED: list[str] = []


def show_parcel(rt: Runtime, key: str) -> dict:
    SHOWN.append(key)
    return {"error": f"parcel {key} bounced", "remote": "The courier"}


def replay_parcel(rt: Runtime, key: str) -> bool:
    REPLAYED.append(key)
    return True


def test_a_kind_added_to_the_table_alone_is_listed_and_replayed(clean_redis, settings, monkeypatch):
    here = __name__  # this module, as pytest imported it
    monkeypatch.setitem(
        work.LETTERS,
        "parcel",
        work.Letters("parcel", f"{here}:show_parcel", f"{here}:replay_parcel", "Call the courier."),
    )
    rt = Runtime(settings)
    rt.store.dead.add("parcel:p-7", Reason.TIMEOUT)
    item = _item(rt, "parcel:p-7")
    assert SHOWN[-1] == "p-7" and item["error"] == "parcel p-7 bounced"
    assert item["hint"].startswith("The courier kept not answering in time")
    assert replay(rt) == [{"name": "parcel:p-7", "kind": "parcel"}] and REPLAYED == ["p-7"]
    assert rt.store.dead.get("parcel:p-7").replayed_at is not None  # "retry under way"
    rt.store.dead.add("parcel:p-7", Reason.OTHER)  # its work failed again
    letter = rt.store.dead.get("parcel:p-7")
    assert letter.replayed_at is None and letter.reason == "other"
    assert _item(rt, "parcel:p-7")["hint"] == "Call the courier."  # the reason says no more


def test_a_replayed_delivery_that_fails_again_is_written_again(service, settings, fakes):
    fakes.twitter.fail_path("POST", "/2/tweets", REFUSED_401, times=2)
    send(service, "seed-article-published")
    wait_states(service, {"twitter": "failed"})
    rt = Runtime(settings)
    assert rt.store.dead.get(TWITTER).reason == "auth"  # from the 401, where it was written
    assert service.redis.hget(REASONS, TWITTER) == b"auth"  # a code, never the remote's text
    assert "token expired" in _item(rt, TWITTER)["hint"]
    assert replay(rt, TWITTER) == [{"name": TWITTER, "kind": "delivery"}]
    assert rt.store.dead.get(TWITTER).replayed_at is not None
    wait_for(lambda: len(fakes.twitter.received("POST", "/2/tweets")) == 2, 20, "the replay")
    wait_for(lambda: rt.store.dead.get(TWITTER).replayed_at is None, 20, "the mark to go")
    assert rt.store.dead.get(TWITTER).reason == "auth"
    assert replay(rt, TWITTER)
    wait_states(service, {"twitter": "sent"})
    assert rt.store.dead.get(TWITTER) is None and service.redis.hget(REASONS, TWITTER) is None


def test_a_letter_from_before_reasons_gets_its_hint_from_its_error(service, settings, fakes):
    fakes.twitter.fail_path("POST", "/2/tweets", REFUSED_401, times=1)
    send(service, "seed-article-published")
    wait_states(service, {"twitter": "failed"})
    service.redis.hdel(REASONS, TWITTER)  # as a letter written before reasons were kept
    rt = Runtime(settings)
    item = _item(rt, TWITTER)
    assert item["reason"] == "" and "401" in item["error"]
    assert "token expired" in item["hint"] and "SYNDICATE_TWITTER_BEARER_TOKEN" in item["hint"]


def test_replay_reruns_an_event_renders_a_feed_and_pings_a_hub(service, settings, fakes):
    event = publish(service, "seed-article-published")
    service.settle()
    rt = Runtime(settings)
    rt.store.events.finish(event["id"], "failed", None, error="KeyError: 'article'")
    hub = public_hub_url(fakes.hub.url + "/")
    names = [f"event:{event['id']}", render_letter("tag/nato"), f"ping:tag/nato:{hub}"]
    for name in names[1:]:
        rt.store.dead.add(name, Reason.INTERNAL)
    assert rt.store.dead.get(names[0]).reason == "internal"  # written by the events' store
    pings = len(fakes.hub.received("POST"))
    assert sorted(d["name"] for d in replay(rt)) == sorted(names)
    for name in names:  # each left the list when its replayed work succeeded
        wait_for(lambda name=name: rt.store.dead.get(name) is None, 20, f"{name} to go")
    assert len(fakes.hub.received("POST")) > pings
    assert not service.redis.hlen(keys.REPLAYED)


def test_replay_queues_podping_again(service, settings):
    rt = Runtime(settings)
    rt.store.dead.add("podping:audio", Reason.REMOTE_5XX)
    assert replay(rt) == [{"name": "podping:audio", "kind": "podping"}]
    # Queued again (Podping is off in this service: the task does nothing, and the letter
    # stays, marked, until Podping takes a change or refuses it again).
    assert rt.store.dead.get("podping:audio").replayed_at is not None


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("hubdelivery:no-such-subscription", "the subscription has ended"),
        ("indexnow:no-such-batch", "the batch is gone"),
        ("fediverse:no-such-delivery", ""),
    ],
)
def test_a_letter_whose_work_is_gone_is_listed_and_not_replayed(clean_redis, settings, name, words):
    rt = Runtime(settings)
    rt.store.dead.add(name, Reason.REMOTE_5XX)
    assert words in _item(rt, name)["error"]
    assert replay(rt, name) == []  # its kind's replay found nothing to queue again
    assert rt.store.dead.get(name).replayed_at is None
