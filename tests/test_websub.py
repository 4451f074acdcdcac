"""WebSub: discovery links inside every format, one publish ping per changed topic, retries."""

from __future__ import annotations

import feedparser

from tests.support import publish, wait_for


def topics(key: str) -> set[str]:
    return {f"http://feeds.test/feeds/{key}.{fmt}" for fmt in ("rss", "atom", "json")}


FEEDS_OF_SEED = 8
FIRST_PINGS = FEEDS_OF_SEED * 3  # three formats, three topics per feed


def test_both_formats_carry_hub_and_one_self_link(service, fakes):
    publish(service, "seed-article-published")
    for fmt in ("rss", "atom"):
        feed = feedparser.parse(service.feed("all", fmt).content)
        links = feed.feed.links
        assert [link.href for link in links if link.rel == "hub"] == [fakes.hub.url + "/"]
        assert [link.href for link in links if link.rel == "self"] == [
            f"http://feeds.test/feeds/all.{fmt}"
        ]


def test_each_changed_feed_is_pinged_once_per_topic(service, fakes):
    publish(service, "seed-article-published")
    expected = set()
    for key in [
        "all",
        "section/news",
        "section/news/lithuania",
        "tag/nato",
        "tag/ukraine",
        "tag/china",
        "tag/lithuania",
        "author/news-desk",
    ]:
        expected |= topics(key)
    wait_for(lambda: set(fakes.hub.pinged_urls()) == expected, what="pings")
    service.idle()
    pings = fakes.hub.received("POST")
    assert len(pings) == len(expected)
    for ping in pings:
        form = ping.form
        assert form["hub.mode"] == ["publish"]
        assert form["hub.url"] == form["hub.topic"]
        assert ping.headers["content-type"] == "application/x-www-form-urlencoded"


def test_an_unchanged_render_pings_nobody(service, fakes):
    publish(service, "seed-article-published")
    wait_for(lambda: len(fakes.hub.received("POST")) == FIRST_PINGS, what="first pings")
    service.rerender("all")
    # the pings of a changed render are queued before the render finishes: none came
    assert len(fakes.hub.received("POST")) == FIRST_PINGS


def test_a_hub_that_is_down_is_pinged_again(service, fakes):
    fakes.hub.fail_next(*[("answer", 503, {"content-type": "text/plain"}, b"down")] * 4)
    publish(service, "seed-article-published")
    failed = {u for r in fakes.hub.received("POST")[:4] for u in r.form["hub.url"]}
    # Each failed ping is retried for every format of its feed: at least 4 more requests.
    wait_for(
        lambda: len(fakes.hub.received("POST")) >= FIRST_PINGS + 4, timeout=20, what="retried pings"
    )
    retried = {u for r in fakes.hub.received("POST")[FIRST_PINGS:] for u in r.form["hub.url"]}
    assert failed <= retried


def test_unpublish_pings_and_announces_the_deleted_entry(service, fakes):
    publish(service, "seed-article-published")
    wait_for(lambda: len(fakes.hub.received("POST")) == FIRST_PINGS, what="first pings")
    publish(service, "seed-article-unpublished")
    wait_for(
        lambda: len(fakes.hub.received("POST")) == 2 * FIRST_PINGS, what="pings after unpublish"
    )
    from lxml import etree

    from feeds.describe import item_id

    root = etree.fromstring(service.feed("tag/nato", "atom").content)
    deleted = root.findall("{http://purl.org/atompub/tombstones/1.0}deleted-entry")
    assert [d.get("ref") for d in deleted] == [item_id("20230713-0001")]


def test_hub_credentials_never_travel_on_the_broker(service, settings, fakes):
    """A hub URL with `user:password@`: the ping sends them as basic auth, but the messages put
    on the broker, the scheduled retry and the dead letter carry only the public URL."""
    from celery.signals import before_task_publish

    from worker import enqueue, websub
    from worker.runtime import Runtime
    from worker.store import keys

    secret_hub = fakes.hub.url.replace("http://", "http://hubuser:hub-s3cret@") + "/"
    rt = Runtime(settings.with_(websub_hubs=(secret_hub,)))
    published: list[str] = []

    def capture(body=None, **_):
        published.append(repr(body))

    before_task_publish.connect(capture)
    try:
        enqueue.ping("tag/nato", secret_hub)
    finally:
        before_task_publish.disconnect(capture)
    assert published and "hub-s3cret" not in "".join(published)
    assert fakes.hub.url in "".join(published)

    # The message above is a real one: the session's worker pings too (3 topics), then ours (3)
    fakes.hub.fail_next(*[("answer", 503, {"content-type": "text/plain"}, b"down")] * 6)
    public = fakes.hub.url + "/"
    assert websub.ping(rt, "tag/nato", public, 1) is False  # failed: a retry is scheduled
    assert any(
        r.headers.get("authorization", "").startswith("Basic ") for r in fakes.hub.received("POST")
    )  # the credentials went as basic auth
    scheduled = b"".join(service.redis.zrange(keys.SCHEDULE, 0, -1))
    assert b"tag/nato" in scheduled and b"hub-s3cret" not in scheduled
    dump = b"".join(
        v
        for key in service.redis.scan_iter(keys.PREFIX + "*")
        if service.redis.type(key) == b"hash"
        for v in service.redis.hvals(key)
    )
    assert b"hub-s3cret" not in dump
