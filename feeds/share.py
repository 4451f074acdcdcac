"""What each network receives, and the share-intent links an article page shows. Pure.

Tweets are fitted to 280 weighted characters by twitter-text v3 rules (`twitter-text-parser`):
a URL counts 23, CJK and `…` count 2. The text is cut at a word boundary, never the URL or the
hashtags (hashtags are dropped, last first, only when even the shortest text cannot fit).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import regex
from twitter_text import parse_tweet

from feeds.article import Article
from feeds.text import html_to_text

TWEET_LIMIT = 280
ELLIPSIS = "…"
FACEBOOK_MESSAGE_LIMIT = 5_000


def tweet_weight(text: str) -> int:
    return parse_tweet(text).weightedLength


def _fits(text: str) -> bool:
    result = parse_tweet(text)
    return result.valid and result.weightedLength <= TWEET_LIMIT


def longest(count: int, fits: Callable[[int], bool]) -> int:
    """The largest n in [0, count] with fits(n), for a monotone `fits` (binary search): how
    every network's text is cut to its limit."""
    low, high = 0, count
    while low < high:
        mid = (low + high + 1) // 2
        if fits(mid):
            low = mid
        else:
            high = mid - 1
    return low


def fit(
    text: str,
    fits: Callable[[str], bool],
    *,
    at_words: bool = True,
    graphemes: bool = False,
    strip: str = " ",
) -> str:
    """`text` if `fits(text)`; else its longest prefix that fits with an ellipsis: cut at a word
    boundary (unless `at_words` is False), else (one word longer than the budget, e.g. unbroken
    CJK) between characters, or between grapheme clusters where a network counts those; the
    characters in `strip` are trimmed from the cut's end. "" when not even one fits. Every
    network's text is cut here, each with its own `fits` (its weights and its tail); binary
    searches only, O(n log n) however long or odd the text is."""
    if fits(text):
        return text
    if at_words:
        words = text.split(" ")
        kept = longest(len(words), lambda n: fits(" ".join(words[:n]).rstrip(strip) + ELLIPSIS))
        if kept:
            return " ".join(words[:kept]).rstrip(strip) + ELLIPSIS
    units = regex.findall(r"\X", text) if graphemes else list(text)
    kept = longest(len(units), lambda n: fits("".join(units[:n]).rstrip(strip) + ELLIPSIS))
    return "".join(units[:kept]).rstrip(strip) + ELLIPSIS if kept else ""


def tweet_text(article: Article) -> str:
    """The share message (or the title), the article URL, then the hashtags (as many as fit
    beside at least one character of text, dropped last first)."""
    text = " ".join((article.share.message or article.title).split())
    hashtags = [f"#{h}" for h in article.share.hashtags]

    def tail(n: int) -> str:
        return " " + article.url + ("" if not n else " " + " ".join(hashtags[:n]))

    n = len(hashtags)
    if not _fits(text[:1] + ELLIPSIS + tail(n)):
        n = longest(n, lambda k: _fits(text[:1] + ELLIPSIS + tail(k)))
    cut = fit(text, lambda s: _fits(s + tail(n)), strip=" ,;:-\u2013\u2014")
    return (cut + tail(n)).strip()


def twitter_payload(article: Article) -> dict[str, Any]:
    return {"text": tweet_text(article)}


def facebook_payload(article: Article) -> dict[str, Any]:
    message = article.share.message or html_to_text(article.summary) or article.title
    return {"message": message[:FACEBOOK_MESSAGE_LIMIT], "link": article.url}


def googleplus_payload(article: Article, audience: str) -> dict[str, Any]:
    """A plusDomains v1 Activity with an `article` attachment."""
    attachment: dict[str, Any] = {
        "objectType": "article",
        "url": article.url,
        "displayName": article.title,
        "content": html_to_text(article.summary),
    }
    if article.image is not None:
        image: dict[str, Any] = {"url": article.image.url}
        if article.image.type:
            image["type"] = article.image.type
        if article.image.width and article.image.height:
            image.update(width=article.image.width, height=article.image.height)
        attachment["image"] = image
    return {
        "object": {
            "originalContent": article.share.message or article.title,
            "attachments": [attachment],
        },
        "access": {
            "kind": "plus#acl",
            "items": [{"type": audience}],
            "domainRestricted": audience == "domain",
        },
    }


def payload_hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def _q(value: str) -> str:
    # Spaces as %20, never "+": the X apps show "+" literally.
    return quote(value, safe="")


def intent_text(article: Article) -> str:
    """The text of a compose-intent link: the share message (or the title) and the URL."""
    return f"{article.share.message or article.title} {article.url}"


def share_links(article: Article) -> dict[str, str]:
    """Share-intent links for the article page's google plus, facebook and twitter buttons."""
    text = article.share.message or article.title
    twitter = f"https://twitter.com/intent/tweet?text={_q(text)}&url={_q(article.url)}"
    if article.share.hashtags:
        twitter += "&hashtags=" + ",".join(_q(h) for h in article.share.hashtags)
    return {
        "googleplus": f"https://plus.google.com/share?url={_q(article.url)}",
        "facebook": f"https://www.facebook.com/sharer/sharer.php?u={_q(article.url)}",
        "twitter": twitter,
    }
