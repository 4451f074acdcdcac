"""A property-based hostile corpus through the real worker (issue #11, point 9).

Hypothesis draws batches of events the way an attacker or a careless CMS would write them:
control, bidi and invisible characters, lookalikes and lone surrogates, markup in plain-text
fields, numbers of every shape (1.0, 1e300, negatives, booleans), implausible dates, huge lists,
every URL scheme. Each batch is signed and sent; afterwards, whatever intake accepted:
- every accepted event ends `done` or `failed` with a reason (never stuck);
- a canary article sent after the batch is in all its feeds within seconds;
- every accepted article can be unpublished and is then absent from every feed it was in, in
  every format.
Intake's answers themselves must be 202, 400 or 422, never a 5xx.
"""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime

import feedparser
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from feeds.article import ArticleEvent, format_time
from feeds.describe import Podcast, Site, describe, item_id
from feeds.membership import feed_keys, is_feed_key
from feeds.render import render, render_whole
from feeds.share import facebook_payload, googleplus_payload, share_links, tweet_text
from feeds.validation import validate_event
from tests import strict
from tests.support import load_fixture, wait_for

MAX_VERSION = 2**53 - 1

NASTY = list("aZ09 <>&\"';#+.-_/\\\t\n") + [
    "\u202e",
    "\u202d",
    "\u2066",
    "\u200b",
    "\u200f",
    "\ufeff",
    "\u00ad",
    "\u0000",
    "\u0007",
    "\u001b",
    "\u0085",
    "\u2028",
    "\ud800",
    "\ufffe",
    "\u0301",
    "é",
    "北",
    "京",
    "🇺",
    "🇦",
    "а",  # Cyrillic a, the lookalike
    "<script>",
    "</b>",
    "&amp;",
    "&#x202e;",
    "]]>",
    "<![CDATA[",
    "javascript:",
]
text = st.one_of(st.lists(st.sampled_from(NASTY), max_size=30).map("".join), st.text(max_size=40))
visible = text.map(lambda t: "Headline " + t)  # hostile, yet something is left once cleaned
title = st.one_of(visible, visible, text)
ints = st.integers(0, 10**6)
numbers = st.one_of(
    ints,
    ints,
    st.integers(-5, 2**64),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, 1, 1.0, 3600.0, 1e300, True, None, "7"]),
)
good_dates = st.datetimes(
    min_value=datetime(1990, 1, 2), max_value=datetime(2025, 12, 30), timezones=st.just(UTC)
).map(lambda d: d.isoformat())
dates = st.one_of(
    good_dates,
    good_dates,
    st.sampled_from(
        [
            "2023-07-15T09:00:00-05:00",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59-01:00",
            "2023-02-30T00:00:00Z",
            "2023-07-15T09:00:00",
            "1989-12-31T23:59:59Z",
            "2199-12-30T00:00:00+14:00",
            "yesterday",
            "",
        ]
    ),
)
good_urls = st.lists(
    st.sampled_from(list("az09-._~!$&'()*+,;=:@/?#[]%<>\"\u00e9\u5317")), max_size=30
).map(lambda p: "https://news.example.org/" + "".join(p))
urls = st.one_of(
    good_urls,
    good_urls,
    st.builds(
        lambda scheme, rest: f"{scheme}:{rest}",
        st.sampled_from(
            [
                "http",
                "https",
                "HTTPS",
                "javascript",
                "data",
                "file",
                "ftp",
                "mailto",
                "vbscript",
                "gopher",
                "",
            ]
        ),
        st.one_of(st.just("//news.example.org/x"), text.map(lambda t: "//" + t), text),
    ),
)
named = st.one_of(
    visible, visible, text, st.fixed_dictionaries({"name": visible}, optional={"slug": text})
)


@st.composite
def hostile_event(draw) -> dict:
    event = copy.deepcopy(load_fixture("seed-article-published"))
    article = event["article"]
    event["id"] = f"hostile-{uuid.uuid4().hex}"
    plain_id = f"h-{uuid.uuid4().hex[:12]}"
    article["id"] = draw(st.one_of(st.just(plain_id), st.just(plain_id), text))
    article["title"] = draw(title)
    choices = draw(
        st.sets(
            st.sampled_from(
                [
                    "version",
                    "published_at",
                    "updated_at",
                    "url",
                    "tags",
                    "sections",
                    "authors",
                    "image",
                    "audio",
                    "related",
                    "hashtags",
                    "summary",
                    "body",
                    "comments",
                    "language",
                    "networks",
                    "type",
                ]
            ),
            max_size=4,
        )
    )
    if "version" in choices:
        article["version"] = draw(numbers)
    if "published_at" in choices:
        article["published_at"] = draw(dates)
    if "updated_at" in choices:
        article["updated_at"] = draw(dates)
    if "url" in choices:
        article["url"] = draw(urls)
    if "tags" in choices:
        article["tags"] = draw(st.lists(named, max_size=40))
    if "sections" in choices:
        article["sections"] = draw(
            st.lists(st.fixed_dictionaries({"name": st.one_of(visible, text)}), max_size=12)
        )
    if "authors" in choices:
        article["authors"] = draw(
            st.lists(
                st.fixed_dictionaries(
                    {"name": st.one_of(visible, text)}, optional={"email": text, "url": urls}
                ),
                max_size=25,
            )
        )
    if "image" in choices:
        article["image"] = draw(
            st.fixed_dictionaries(
                {"url": urls},
                optional={
                    "width": numbers,
                    "height": numbers,
                    "caption": text,
                    "credit": text,
                    "type": text,
                },
            )
        )
    if "audio" in choices:
        article["audio"] = draw(
            st.fixed_dictionaries(
                {
                    "url": urls,
                    "type": st.sampled_from(["audio/mpeg", "audio/x-m4a", "text/html", ""]),
                    "length": numbers,
                },
                optional={"duration": numbers},
            )
        )
    if "related" in choices:
        article["related"] = draw(
            st.lists(st.fixed_dictionaries({"url": urls}, optional={"title": text}), max_size=25)
        )
    if "hashtags" in choices:
        article["share"] = {"hashtags": draw(st.lists(text, max_size=15))}
    if "networks" in choices:
        article.setdefault("share", {})["networks"] = []  # never post from the corpus
    if "summary" in choices:
        article["summary"] = draw(text)
    if "body" in choices:
        article["body_html"] = draw(text)
    if "comments" in choices:
        article["comments"] = {"count": draw(numbers), "url": draw(urls)}
    if "language" in choices:
        article["language"] = draw(text)
    if "type" in choices:
        event["type"] = draw(st.sampled_from(["article.updated", "article.unpublished"]))
    article.setdefault("share", {}).setdefault("networks", [])  # the fakes stay quiet
    return event


def _entry_ids(service, key: str) -> dict[str, set[str]]:
    out = {}
    for fmt in ("rss", "atom", "json"):
        r = service.feed(key, fmt)
        if r.status_code != 200:
            out[fmt] = set()
        elif fmt == "json":
            out[fmt] = {item["id"] for item in r.json()["items"]}
        else:
            out[fmt] = {e.get("id", "") for e in feedparser.parse(r.content).entries}
    return out


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(batch=st.lists(hostile_event(), min_size=4, max_size=8))
def test_hostile_batches_never_stop_the_feeds_and_always_retract(service, batch):
    accepted = []
    for event in batch:
        r = service.send(json.dumps(event).encode(), event_id=event["id"])
        assert r.status_code in (202, 400, 422), (r.status_code, r.text)
        if r.status_code == 202:
            accepted.append(event)

    for event in accepted:  # every accepted event ends, with a reason if it failed
        record = service.event_done(event["id"], timeout=20)
        assert record["status"] in ("done", "failed")
        if record["status"] == "failed":
            assert record.get("error")

    n = uuid.uuid4().hex[:8]
    canary = copy.deepcopy(load_fixture("seed-article-published"))
    canary["id"] = f"canary-{n}"
    canary["article"].update(
        id=f"canary-{n}",
        title=f"Canary {n}",
        version=1,
        url=f"https://news.example.org/canary-{n}",
        tags=["Canary"],
        published_at=format_time(datetime.now(UTC)),
        share={"networks": []},
    )
    assert service.send(canary).status_code == 202
    service.event_done(canary["id"])
    feeds = service.client.get(f"/articles/canary-{n}").json()["feeds"]
    canary_id = item_id(f"canary-{n}")
    for feed in feeds:
        wait_for(
            lambda: all(canary_id in ids for ids in _entry_ids(service, feed["key"]).values()),
            10,
            f"the canary in {feed['key']}",
        )

    published = {}
    for event in accepted + [canary]:
        article_id = event["article"]["id"]
        r = service.client.get(f"/articles/{article_id}")
        if r.status_code == 200 and r.json()["state"] == "published":
            published[article_id] = [f["key"] for f in r.json()["feeds"]]
    for article_id in published:
        gone = {
            "id": f"gone-{uuid.uuid4().hex}",
            "type": "article.unpublished",
            "article": {"id": article_id, "version": MAX_VERSION},
        }
        assert service.send(gone).status_code == 202, article_id
        assert service.event_done(gone["id"])["status"] == "done"
    service.settle(20)
    for article_id, keys_ in published.items():
        for key in keys_:
            for fmt, ids in _entry_ids(service, key).items():
                assert item_id(article_id) not in ids, (article_id, key, fmt)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(event=hostile_event())
def test_whatever_intake_accepts_renders_in_every_format_and_every_network(event):
    """The pure half, many more examples: an event `validate_event` accepts becomes an article
    that every writer and every share payload takes, with no item left out, and whose feeds the
    W3C validator's rules find nothing in."""

    if validate_event(event):
        return
    parsed = ArticleEvent.from_payload(event["id"], event)
    if parsed.article is None:
        return
    article = parsed.article
    site = Site(
        title="T",
        description="D",
        url="https://news.example.org",
        language="en",
        public_url="http://feeds.test",
        hubs=(),
        podcast=Podcast(
            owner_name="Audio",
            owner_email="audio@news.example.org",
            image="https://news.example.org/artwork.png",
        ),
    )
    for key in feed_keys(article):
        assert is_feed_key(key), key
        rendered = render(describe(key, site, [article]), [article], [])
        assert rendered.skipped == ()
        assert rendered.bodies() == render_whole(describe(key, site, [article]), [article]).bodies()
        for fmt in ("rss", "atom"):
            data = getattr(rendered, fmt)
            etree.fromstring(data)  # well-formed XML
            found = strict.problems(data, f"http://feeds.test/feeds/{key}.{fmt}")
            assert found == [], (key, fmt, found)  # the W3C validator's rules: nothing
        assert json.loads(rendered.json)["items"][0]["id"] == item_id(article.id)
    assert tweet_text(article) and facebook_payload(article) and share_links(article)
    googleplus_payload(article, "public")
