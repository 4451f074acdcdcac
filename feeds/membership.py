"""Which feeds an article belongs to, and how a feed key reads."""

from __future__ import annotations

import re

from feeds.article import Article

ALL = "all"
AUDIO = "audio"

# A feed key is what follows /feeds/ and precedes .rss/.atom; slugs only, so no path tricks.
_KEY = re.compile(r"^(all|audio|tag/[a-z0-9-]{1,100}|author/[a-z0-9-]{1,100}"
                  r"|section/[a-z0-9-]{1,100}(/[a-z0-9-]{1,100}){0,9})$")


def feed_keys(article: Article) -> list[str]:
    """all; each level of the section breadcrumb; each tag; each author; audio if it has audio."""
    keys = [ALL]
    trail: list[str] = []
    for section in article.sections[:10]:
        trail.append(section.slug)
        keys.append("section/" + "/".join(trail))
    keys += [f"tag/{t.slug}" for t in article.tags]
    keys += [f"author/{a.slug}" for a in article.authors]
    if article.audio is not None:
        keys.append(AUDIO)
    return list(dict.fromkeys(keys))


def is_feed_key(key: str) -> bool:
    return len(key) <= 1200 and bool(_KEY.match(key))
