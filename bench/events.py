"""Realistic article events for benchmarks, backfill demos and tests that need many articles."""

from __future__ import annotations

import json
import random
import sys
from datetime import UTC, datetime, timedelta

SECTIONS = [
    ("news", "News"),
    ("world", "World"),
    ("business", "Business"),
    ("sport", "Sport"),
    ("culture", "Culture"),
]
SUBSECTIONS = [
    ("lithuania", "Lithuania"),
    ("europe", "Europe"),
    ("markets", "Markets"),
    ("football", "Football"),
    ("music", "Music"),
]
TAGS = [
    "NATO",
    "Ukraine",
    "China",
    "Lithuania",
    "Elections",
    "Energy",
    "Climate",
    "Economy",
    "Football",
    "Vilnius",
    "EU",
    "Baltics",
]
AUTHORS = ["News Desk", "Jurgita Lapienytė", "Ieva Žilionienė", "Benas Gerdžiūnas", "Wire"]
EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


def article_event(
    n: int,
    *,
    version: int = 1,
    kind: str = "article.published",
    seed: int = 0,
    event_suffix: str = "",
) -> dict:
    """Event for article number `n`: deterministic for (n, seed), a few sections, tags, an image."""
    rnd = random.Random(n * 7919 + seed)
    published = EPOCH + timedelta(minutes=n)  # n up to ~3 million stays in the past
    section = SECTIONS[n % len(SECTIONS)]
    sub = SUBSECTIONS[n % len(SUBSECTIONS)]
    article_id = f"bench-{n:07d}"
    article = {
        "id": article_id,
        "version": version,
        "url": f"https://news.example.org/{section[0]}/{sub[0]}/{article_id}.html",
        "title": f"Story {n}: {rnd.choice(TAGS)} talks continue in {rnd.choice(['Vilnius', 'Kaunas', 'Riga'])}",
        "summary": "A summary of the story, as the CMS sends it, long enough to look real. " * 2,
        "body_html": "<p>" + "Body text of the article with some <em>markup</em>. " * 20 + "</p>",
        "language": "en",
        "sections": [{"slug": section[0], "name": section[1]}, {"slug": sub[0], "name": sub[1]}],
        "tags": rnd.sample(TAGS, 3),
        "authors": [{"name": rnd.choice(AUTHORS)}],
        "published_at": published.isoformat().replace("+00:00", "Z"),
        "updated_at": (published + timedelta(minutes=version)).isoformat().replace("+00:00", "Z"),
        "image": {
            "url": f"https://news.example.org/media/{article_id}.jpg",
            "type": "image/jpeg",
            "width": 1200,
            "height": 675,
            "caption": "A caption",
            "credit": "Photo: Wire",
        },
        "comments": {
            "count": rnd.randint(0, 40),
            "url": f"https://news.example.org/{article_id}.html#comments",
        },
    }
    event = {
        "id": f"evt-{article_id}-v{version}{event_suffix}",
        "type": kind,
        "occurred_at": article["updated_at"],
    }
    if kind == "article.unpublished":
        event["article"] = {
            "id": article_id,
            "version": version,
            "updated_at": article["updated_at"],
        }
    else:
        event["article"] = article
    return event


def main(argv: list[str]) -> None:
    """`python -m bench.events N`: an archive of N published articles as JSON lines."""
    count = int(argv[0]) if argv else 1000
    for n in range(count):
        sys.stdout.write(json.dumps(article_event(n), ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
