"""Share payloads and links, pure: twitter-text v3 weights, fitting to 280, encodings."""

from __future__ import annotations

import dataclasses

import pytest

from feeds.article import Article, Share
from feeds.share import facebook_payload, googleplus_payload, share_links, tweet_text, tweet_weight
from tests.support import load_fixture

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"


@pytest.mark.parametrize(
    "text,weight",
    [
        ("This is a test.", 15),
        ("https://test.com", 23),
        ("test.com", 23),
        ("Test https://test.com test https://test.com test.com test", 86),
        (FAMILY * 140, 280),
        ("\U0001f637\U0001f47e\U0001f621\U0001f525\U0001f4a9", 10),
        ("Привет мир", 10),
        ("故人西辞黄鹤楼", 14),
        ("— em dash “quotes” …", 21),
        ("Read more… https://example.com/a", 35),
        ("a" * 280, 280),
        ("あ" * 141, 282),
        ("a" * 256 + " https://example.com/x", 280),
        ("a" * 257 + " https://example.com/x", 281),
    ],
)
def test_twitter_text_v3_conformance_vectors(text, weight):
    assert tweet_weight(text) == weight


def article(**changes) -> Article:
    base = Article.from_payload(load_fixture("seed-article-published")["article"])
    return dataclasses.replace(base, **changes)


def test_tweet_is_title_url_and_hashtags():
    a = article()
    assert tweet_text(a) == f"{a.title} {a.url} #NATO #Ukraine"


@pytest.mark.parametrize(
    "title",
    [
        "word " * 100,
        "北京" * 200,
        "Breaking: " + "very long headline " * 40,
        "x" * 600,
    ],
)
def test_long_texts_are_cut_at_a_word_boundary_to_fit(title):
    a = article(title=title.strip())
    text = tweet_text(a)
    assert tweet_weight(text) <= 280
    assert text.endswith(f" {a.url} #NATO #Ukraine")
    head = text[: -len(f" {a.url} #NATO #Ukraine")]
    assert head.endswith("…")
    if " " in title.strip():
        assert title.startswith(head[:-1])  # whole words only


def test_share_message_replaces_the_title_everywhere():
    a = article(share=Share(networks=None, message="Read this", hashtags=()))
    assert tweet_text(a) == f"Read this {a.url}"
    assert facebook_payload(a) == {"message": "Read this", "link": a.url}
    assert googleplus_payload(a, "public")["object"]["originalContent"] == "Read this"


def test_facebook_defaults_to_the_summary_as_plain_text():
    a = article(summary="<p>One &amp; <b>two</b></p>")
    assert facebook_payload(a)["message"] == "One & two"


def test_share_links_use_percent_20_and_encode_reserved_characters():
    a = article(
        title="Café & C++ #1",
        url="https://news.example.com/a?id=1",
        share=Share(networks=None, message=None, hashtags=("news", "tech")),
    )
    links = share_links(a)
    assert links["twitter"] == (
        "https://twitter.com/intent/tweet?text=Caf%C3%A9%20%26%20C%2B%2B%20%231"
        "&url=https%3A%2F%2Fnews.example.com%2Fa%3Fid%3D1&hashtags=news,tech"
    )
    assert "+" not in links["twitter"]
    assert (
        links["facebook"]
        == "https://www.facebook.com/sharer/sharer.php?u=https%3A%2F%2Fnews.example.com%2Fa%3Fid%3D1"
    )
