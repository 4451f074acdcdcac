"""Which feeds an article belongs to, and how a feed key reads."""

from __future__ import annotations

import hashlib
import re
import unicodedata

from feeds.article import Article, Author, Named
from feeds.text import slugify

ALL = "all"
AUDIO = "audio"

# How many feeds one article makes, at most (intake accepts more: feeds.validation LIMITS, 10
# sections, 25 tags, 20 authors). The first levels of the section breadcrumb, the first tags and
# the first authors, in the CMS's order, become feeds; the item itself still carries every
# section, tag and author. One event thus touches at most 1 + 5 + 10 + 5 + 1 = 22 feeds, and a
# burst of new names cannot bury the feeds everyone reads under thousands of new ones.
MAX_SECTION_LEVELS = 5
MAX_TAG_FEEDS = 10
MAX_AUTHOR_FEEDS = 5

# A feed key is what follows /feeds/ and precedes .rss/.atom; slugs only, so no path tricks.
_KEY = re.compile(
    r"^(all|audio|tag/[a-z0-9-]{1,100}|author/[a-z0-9-]{1,100}"
    r"|section/[a-z0-9-]{1,100}(/[a-z0-9-]{1,100}){0,9})$"
)

# A name's feed slug when folding it to ASCII was a guess: the folded slug, "--" and this many
# hex digits of a hash of the name. Slugs of ASCII names never hold "--" (slugify folds every
# run of other characters into one "-"), so the two kinds never meet.
_HASH_DIGITS = 10
_SLUG_MAX = 100


def _name_hash(name: str) -> str:
    """Hex digits of the name as slugify hashes it (NFKC, spaces folded, case folded)."""
    normal = " ".join(unicodedata.normalize("NFKC", name).split()).casefold()
    return hashlib.sha256(normal.encode()).hexdigest()[:_HASH_DIGITS]


def _folds_cleanly(name: str) -> bool:
    """True when folding the name to ASCII is only what folding an ASCII name already is (case,
    punctuation and spaces as hyphens) plus dropping accents of the Latin script: every
    character is ASCII, a Latin letter ('ô', 'ž', 'ß'), a combining mark, punctuation ('’',
    '—') or a space. Another script, a symbol or an emoji is a guess of unidecode's."""
    for char in unicodedata.normalize("NFKC", name):
        if char.isascii() or unicodedata.category(char)[0] in "PZM":
            continue
        if not unicodedata.name(char, "").startswith("LATIN "):
            return False
    return True


def feed_slug(named: Named | Author) -> str:
    """The slug of a section level's, tag's or author's feed: distinct names, distinct feeds.

    A name in ASCII or the Latin script, and a slug the CMS gave, keep the model's slug, as the
    contract spells it: 'NATO' -> 'nato', 'Côte d’Ivoire' -> 'cote-d-ivoire' (the same feed as
    'Cote d'Ivoire': like case, accents do not make another name). A name whose slug is a
    transliteration ('北京' and 'Bei Jing' both fold to 'bei-jing') or a hash (an emoji has
    nothing to fold, and its hash slug is what the ASCII name 'X-ED8D830565' slugs to) gets "--"
    and a short hash of the name after the folded slug: '北京' -> 'bei-jing--<hash>', '🔥' ->
    'x--<hash>'. Same name (up to case, spaces and NFKC), same feed."""
    name, slug = named.name, named.slug
    if _folds_cleanly(name) or slug != slugify(name):
        return slug
    digest = _name_hash(name)
    base = "x" if slug == "x-" + digest else slug  # slugify's own hash: nothing folded
    return base[: _SLUG_MAX - 2 - _HASH_DIGITS].rstrip("-") + "--" + digest


def feed_keys(article: Article) -> list[str]:
    """all; each level of the section breadcrumb; each tag; each author; audio if it has audio
    (within the bounds above)."""
    keys = [ALL]
    trail: list[str] = []
    for section in article.sections[:MAX_SECTION_LEVELS]:
        trail.append(feed_slug(section))
        keys.append("section/" + "/".join(trail))
    keys += [f"tag/{feed_slug(t)}" for t in article.tags[:MAX_TAG_FEEDS]]
    keys += [f"author/{feed_slug(a)}" for a in article.authors[:MAX_AUTHOR_FEEDS]]
    if article.audio is not None:
        keys.append(AUDIO)
    return list(dict.fromkeys(keys))


def is_feed_key(key: str) -> bool:
    return len(key) <= 1200 and bool(_KEY.match(key))
