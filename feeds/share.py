"""What each network receives, and the share-intent links an article page shows. Pure.

Tweets are fitted to 280 weighted characters by twitter-text v3 rules (`twitter-text-parser`):
a URL counts 23, CJK and `…` count 2. The text is cut at a word boundary, never the URL or the
hashtags (hashtags are dropped, last first, only when even the shortest text cannot fit).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import quote

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


def _cut(text: str, tail: str) -> str:
    """The longest prefix of `text` ending at a word boundary that fits before `tail`."""
    if _fits(text + tail):
        return text
    words = text.split(" ")
    low, high = 0, len(words)  # binary search on the number of words kept
    while low < high:
        mid = (low + high + 1) // 2
        if _fits(" ".join(words[:mid]).rstrip(" ,;:-–—") + ELLIPSIS + tail):
            low = mid
        else:
            high = mid - 1
    if low:
        return " ".join(words[:low]).rstrip(" ,;:-–—") + ELLIPSIS
    # A single word longer than the budget (e.g. unbroken CJK): cut by characters.
    chars = list(text)
    while chars and not _fits("".join(chars) + ELLIPSIS + tail):
        chars.pop()
    return "".join(chars) + ELLIPSIS if chars else ""


def tweet_text(article: Article) -> str:
    """The share message (or the title), the article URL, then the hashtags."""
    text = " ".join((article.share.message or article.title).split())
    hashtags = [f"#{h}" for h in article.share.hashtags]
    while True:
        tail = " " + article.url + ("" if not hashtags else " " + " ".join(hashtags))
        body = _cut(text, tail)
        if body or not hashtags:
            return (body + tail).strip()
        hashtags.pop()


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
    # Spaces as %20, never "+": the X apps show "+" literally (social_apis.md §4).
    return quote(value, safe="")


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
