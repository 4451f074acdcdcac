"""Social sharing through the real worker against loopback fakes of X, Facebook and Google+.

One test per row of the retry matrix (each network's documented errors); each ends in the documented state,
read from GET /articles/{id}, and in exactly one post on the fake.
"""

from __future__ import annotations

import copy
import json
import time

from tests.fakes import FakeFacebook
from tests.support import SEED_ID, load_fixture, send, shares, wait_for, wait_states


def test_first_publish_posts_once_per_network_with_the_right_payloads(service, fakes):
    seed = send(service, "seed-article-published")
    state = wait_states(service, {"twitter": "sent", "facebook": "sent", "googleplus": "sent"})
    article = seed["article"]

    tweets = fakes.twitter.received("POST", "/2/tweets")
    assert len(tweets) == 1
    text = tweets[0].json["text"]
    assert text == f"{article['title']} {article['url']} #NATO #Ukraine"
    assert state["twitter"]["remote_id"] in fakes.twitter.posts

    posts = fakes.facebook.received("POST", f"/v25.0/{FakeFacebook.PAGE}/feed")
    assert len(posts) == 1
    form = {k: v[0] for k, v in posts[0].form.items()}
    assert form["link"] == article["url"]
    assert form["message"] == article["summary"]
    assert form["access_token"] == FakeFacebook.TOKEN
    assert state["facebook"]["remote_id"].startswith(FakeFacebook.PAGE + "_")

    activities = fakes.googleplus.received("POST", "/plusDomains/v1/people/me/activities")
    assert len(activities) == 1
    activity = activities[0].json
    attachment = activity["object"]["attachments"][0]
    assert activity["object"]["originalContent"] == article["title"]
    assert attachment["objectType"] == "article" and attachment["url"] == article["url"]
    assert attachment["displayName"] == article["title"]
    assert attachment["image"]["url"] == article["image"]["url"]
    assert activity["access"]["items"][0]["type"] == "domain"
    assert all(state[n]["attempts"] == 1 for n in ("twitter", "facebook", "googleplus"))


def test_update_posts_nothing_and_refreshes_the_facebook_preview(service, fakes):
    send(service, "seed-article-published")
    wait_states(service, {"twitter": "sent", "facebook": "sent", "googleplus": "sent"})
    send(service, "seed-article-updated")
    url = load_fixture("seed-article-updated")["article"]["url"]
    wait_for(lambda: fakes.facebook.scrapes == [url], what="one scrape")
    service.idle()
    assert len(fakes.twitter.received("POST")) == 1
    assert len(fakes.facebook.received("POST", f"/v25.0/{FakeFacebook.PAGE}/feed")) == 1
    assert len(fakes.googleplus.received("POST")) == 1
    assert fakes.facebook.scrapes == [url]


def test_unpublish_deletes_the_tweet_and_the_facebook_post(service, fakes):
    send(service, "seed-article-published")
    before = wait_states(service, {"twitter": "sent", "facebook": "sent", "googleplus": "sent"})
    send(service, "seed-article-unpublished")
    wait_states(service, {"twitter": "deleted", "facebook": "deleted", "googleplus": "sent"})
    assert fakes.twitter.posts == {} and fakes.facebook.posts == {}
    assert [r.path for r in fakes.twitter.received("DELETE")] == [
        f"/2/tweets/{before['twitter']['remote_id']}"
    ]
    # Google+ has no delete: its entry stays sent, with a note (it may land a moment later).
    wait_for(
        lambda: "no delete" in shares(service)["googleplus"].get("note", ""),
        what="the Google+ note",
    )


def test_share_networks_limit_the_posts_and_the_rest_are_skipped(service, fakes):
    send(service, "audio-programme-published")  # share.networks: facebook, twitter
    state = wait_states(
        service,
        {"twitter": "sent", "facebook": "sent", "googleplus": "skipped"},
        article_id="20230714-0007",
    )
    assert fakes.googleplus.received("POST") == []
    tweet = fakes.twitter.received("POST")[0].json["text"]
    assert tweet.startswith("Escuche: la cumbre de la OTAN en Vilna, analizada https://")
    assert "share.networks" in state["googleplus"]["reason"]


def test_an_update_overtaking_its_publish_shares_once(service, fakes):
    send(service, "seed-article-updated")  # first event showing it published
    send(service, "seed-article-published")  # late and stale
    wait_states(service, {"twitter": "sent", "facebook": "sent", "googleplus": "sent"})
    service.idle()
    assert len(fakes.twitter.received("POST")) == 1
    assert (
        fakes.twitter.received("POST")[0]
        .json["text"]
        .startswith("NATO Summit in Lithuania Ends Amid Division Over Ukraine")
    )


def test_republish_after_unpublish_does_not_post_again(service, fakes):
    send(service, "seed-article-published")
    wait_states(service, {"twitter": "sent"})
    send(service, "seed-article-unpublished")
    wait_states(service, {"twitter": "deleted"})

    def republish(event):
        event["id"] = "evt_republish"
        event["article"]["version"] = 4

    send(service, "seed-article-published", republish)  # waits for the event to be done
    service.idle()
    assert len(fakes.twitter.received("POST")) == 1


# The retry matrix -------------------------------------------------------------------------


def test_rate_limit_waits_for_the_reset_then_posts(service, fakes):
    fakes.twitter.fail_next(fakes.twitter.rate_limited(reset_in_s=2))
    started = time.time()
    send(service, "seed-article-published")
    state = wait_states(service, {"twitter": "sent"})
    posts = fakes.twitter.received("POST")
    assert len(posts) == 2 and len(fakes.twitter.posts) == 1
    assert time.time() - started >= 1.5  # waited for x-rate-limit-reset, not hammered
    assert state["twitter"]["attempts"] == 2


def test_facebook_throttling_codes_back_off_then_post(service, fakes):
    fakes.facebook.fail_next(
        (
            "answer",
            *FakeFacebook.error(
                80001,
                "(#80001) There have been too many calls to this Page account.",
                is_transient=True,
            ),
        )
    )
    send(service, "seed-article-published")
    state = wait_states(service, {"facebook": "sent"})
    assert state["facebook"]["attempts"] == 2 and len(fakes.facebook.posts) == 1


def test_server_error_is_retried_with_backoff(service, fakes):
    fakes.twitter.fail_next(("answer", 503, {}, {"title": "Service Unavailable"}))
    send(service, "seed-article-published")
    state = wait_states(service, {"twitter": "sent"})
    assert state["twitter"]["attempts"] == 2 and len(fakes.twitter.posts) == 1


def test_an_implausible_post_id_in_the_answer_is_kept_as_unknown(service, fakes):
    """A remote answer is validated like any input: a 5,000-character "id" with a newline is
    not stored, logged or shown; the post counts as sent, once, with its id unknown."""
    fakes.googleplus.fail_next(
        ("answer", 200, {}, {"kind": "plus#activity", "id": "z\n" + "9" * 5000})
    )
    send(service, "seed-article-published")
    state = wait_states(service, {"googleplus": "sent"})
    assert state["googleplus"].get("remote_id", "") == ""
    assert "implausible" in state["googleplus"]["note"]
    service.idle()
    assert len(fakes.googleplus.received("POST", "/plusDomains/v1/people/me/activities")) == 1


def test_bad_credentials_fail_at_once_with_the_reason(service, fakes):
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
    fakes.facebook.fail_next(("answer", *FakeFacebook.error(190, "Error validating access token")))
    send(service, "seed-article-published")
    state = wait_states(service, {"twitter": "failed", "facebook": "failed", "googleplus": "sent"})
    assert "401" in state["twitter"]["last_error"]
    assert "190" in state["facebook"]["last_error"]
    service.idle()
    assert len(fakes.twitter.received("POST")) == 1  # no retry storm
    assert state["twitter"]["attempts"] == 1


def test_invalid_payload_fails_at_once(service, fakes):
    fakes.facebook.fail_next(("answer", *FakeFacebook.error(100, "Invalid parameter")))
    send(service, "seed-article-published")
    state = wait_states(service, {"facebook": "failed"})
    assert "Invalid parameter" in state["facebook"]["last_error"]
    assert len(fakes.facebook.received("POST", f"/v25.0/{FakeFacebook.PAGE}/feed")) == 1


def test_timeout_after_the_post_landed_never_posts_twice_on_x(service, fakes):
    """The tweet is created, the answer comes later than the read timeout: a retry meets the
    duplicate refusal, which after an uncertain attempt means sent."""
    fakes.twitter.fail_next(("sleep", 3))
    send(service, "seed-article-published")
    state = wait_states(service, {"twitter": "sent"})
    assert len(fakes.twitter.posts) == 1
    assert "duplicate" in state["twitter"]["note"]


def test_dropped_connection_after_the_post_never_posts_twice_on_facebook(service, fakes):
    """Facebook took the post and the connection dropped: the retry finds it in the Page feed."""
    fakes.facebook.fail_next("drop-after")
    send(service, "seed-article-published")
    state = wait_states(service, {"facebook": "sent"})
    assert len(fakes.facebook.posts) == 1
    assert state["facebook"]["remote_id"] in fakes.facebook.posts
    assert "found" in state["facebook"]["note"]


def test_dropped_connection_after_the_post_never_posts_twice_on_googleplus(service, fakes):
    fakes.googleplus.fail_next("drop-after")
    send(service, "seed-article-published")
    state = wait_states(service, {"googleplus": "sent"})
    assert len(fakes.googleplus.activities) == 1
    assert state["googleplus"]["remote_id"] in fakes.googleplus.activities


def test_duplicate_refusal_without_an_uncertain_attempt_is_a_failure(service, fakes):
    """Someone posted the same text by hand: X refuses it, and that is not our post."""
    seed = load_fixture("seed-article-published")
    a = seed["article"]
    fakes.twitter.posts["1"] = f"{a['title']} {a['url']} #NATO #Ukraine"
    send(service, "seed-article-published")
    state = wait_states(service, {"twitter": "failed"})
    assert "duplicate" in state["twitter"]["last_error"]


def test_share_links_are_percent_encoded_with_20_for_spaces(service):
    def tweak(event):
        event["article"]["share"]["message"] = "Café & C++: what's #1?"

    send(service, "seed-article-published", tweak)
    links = service.client.get(f"/articles/{SEED_ID}/share-links").json()["links"]
    url = "https%3A%2F%2Fnews.example.org%2Fnews%2FNATO-Summit-in-Lithuania-Ends-Amid-Division-20230713-0001.html"
    assert links["facebook"] == f"https://www.facebook.com/sharer/sharer.php?u={url}"
    assert links["googleplus"] == f"https://plus.google.com/share?url={url}"
    assert links["twitter"] == (
        "https://twitter.com/intent/tweet?text=Caf%C3%A9%20%26%20C%2B%2B%3A%20what%27s%20%231%3F"
        f"&url={url}&hashtags=NATO,Ukraine"
    )
    assert service.client.get("/articles/nope/share-links").status_code == 404


def test_share_links_only_for_networks_that_are_on_unless_a_setting_lists_them(settings_env):
    import pytest

    from feeds.article import Article
    from syndicate.config import ConfigError, Settings
    from worker.social import channels_for, share_links

    article = Article.from_payload(load_fixture("seed-article-published")["article"])
    # The session's networks: X, Facebook and Google+ on; Mastodon, Bluesky, ... off.
    assert set(share_links(Settings.from_env(settings_env), article)) == {
        "twitter",
        "facebook",
        "googleplus",
    }
    # Google+ off (its share page is gone): no link to it.
    only_x = {
        k: v
        for k, v in settings_env.items()
        if not k.startswith(("SYNDICATE_GOOGLEPLUS_", "SYNDICATE_FACEBOOK_"))
    }
    assert set(share_links(Settings.from_env(only_x), article)) == {"twitter"}
    listed = Settings.from_env({**only_x, "SYNDICATE_SHARE_LINKS": " Facebook, linkedin,facebook"})
    links = share_links(listed, article)
    assert list(links) == ["facebook", "linkedin"]
    assert links["linkedin"].startswith("https://www.linkedin.com/sharing/share-offsite/?url=")
    assert (
        share_links(Settings.from_env({**settings_env, "SYNDICATE_SHARE_LINKS": "none"}), article)
        == {}
    )
    misspelt = Settings.from_env({**settings_env, "SYNDICATE_SHARE_LINKS": "twiter"})
    with pytest.raises(ConfigError, match="SYNDICATE_SHARE_LINKS.*twiter"):
        channels_for(misspelt)  # at start-up, not on a reader's request
    with pytest.raises(ConfigError, match="SYNDICATE_SHARE_LINKS"):
        Settings.from_env({**settings_env, "SYNDICATE_SHARE_LINKS": "x;rm -rf"})


def test_many_articles_each_post_once(service, fakes):
    base = load_fixture("seed-article-published")
    for n in range(10):
        event = copy.deepcopy(base)
        event["id"] = f"evt-many-{n}"
        event["article"]["id"] = f"many-{n}"
        event["article"]["title"] = f"Story number {n}"
        event["article"]["url"] = f"https://news.example.org/news/story-{n}.html"
        assert service.send(event).status_code == 202
    for n in range(10):
        wait_states(service, {"twitter": "sent", "facebook": "sent"}, article_id=f"many-{n}")
    texts = [json.loads(r.body)["text"] for r in fakes.twitter.received("POST")]
    assert len(texts) == len(set(texts)) == 10


def test_missing_write_permission_fails_at_once(service, fakes):
    fakes.twitter.fail_next(
        (
            "answer",
            403,
            {},
            {
                "title": "Forbidden",
                "status": 403,
                "detail": "Your client app is not configured with the appropriate oauth1 app permissions "
                "for this endpoint.",
                "type": "https://api.twitter.com/2/problems/oauth1-permissions",
            },
        )
    )
    send(service, "seed-article-published")
    state = wait_states(service, {"twitter": "failed"})
    assert "permissions" in state["twitter"]["last_error"]
    assert state["twitter"]["attempts"] == 1


def test_facebook_temporary_service_error_is_retried(service, fakes):
    fakes.facebook.fail_next(
        ("answer", *FakeFacebook.error(2, "An unexpected error has occurred.", status=500))
    )
    send(service, "seed-article-published")
    state = wait_states(service, {"facebook": "sent"})
    assert len(fakes.facebook.posts) == 1 and state["facebook"]["attempts"] == 2


def test_connection_dropped_before_an_answer_is_retried_once_posted(service, fakes):
    fakes.twitter.fail_next("drop-before")
    send(service, "seed-article-published")
    state = wait_states(service, {"twitter": "sent"})
    assert len(fakes.twitter.posts) == 1 and state["twitter"]["remote_id"]


def test_oauth1_credentials_sign_the_request(settings, fakes):
    from worker.social.twitter import Twitter, TwitterSettings

    fakes.reset()
    config = TwitterSettings(
        api_url=fakes.twitter.url,
        consumer_key="ck",
        consumer_secret="cs",
        access_token="at",
        access_secret="as",
    )
    channel = Twitter(config, settings.http_timeout)
    tweet_id = channel.post({"text": "hello from OAuth 1.0a"})
    auth = fakes.twitter.received("POST")[0].headers["authorization"]
    assert auth.startswith("OAuth ") and 'oauth_consumer_key="ck"' in auth
    assert "oauth_signature=" in auth and fakes.twitter.posts[tweet_id] == "hello from OAuth 1.0a"
