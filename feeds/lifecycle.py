"""What one event does to an article's stored state: the rules, without the storage (the store
carries out the `Change` in one transaction, worker/store/articles.py).

- Ordering (feeds.ordering) decides whether the event wins at all: `stale` or `duplicate` if not.
- A publish (or update) puts the article in `feeds.membership.feed_keys(article)` and takes it
  out of the feeds it left; its first publish ever is the one that is shared.
- An unpublish of a published article takes it out of every feed, announces the retraction
  (RFC 6721) and asks every network that has (or will have) a post to delete it.
- A purged article (a takedown) stays purged: no event brings it back, whatever its version,
  until an operator un-purges it (`syndicate unpurge`, audited); then its next event applies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from feeds.article import ArticleEvent
from feeds.membership import feed_keys
from feeds.ordering import supersedes


@dataclass(frozen=True)
class Stored:
    """What the store holds of an article, as the rules need it."""

    state: str | None = None  # published | unpublished | purged | unpurged
    version: int | None = None
    time: datetime | None = None
    feeds: tuple[str, ...] = ()
    first_published_at: str | None = None

    @property
    def published(self) -> bool:
        return self.state == "published"


@dataclass(frozen=True)
class Change:
    outcome: str  # applied | stale | duplicate | purged
    state: str | None = None  # the article's state after the event
    feeds: tuple[str, ...] = ()  # its feeds after the event
    leave: tuple[str, ...] = ()  # feeds it leaves
    first_publish: bool = False  # share it now
    retracted: bool = False  # was published, is not: deleted entries, posts to delete
    touched: tuple[str, ...] = field(default=())  # feeds to render again


def decide(stored: Stored | None, event: ArticleEvent) -> Change:
    if stored is not None and stored.state == "purged":
        return Change("purged", state="purged")
    if stored is not None and stored.state == "unpurged":
        # An operator let it back: the next event applies, whatever its version; it was
        # shared once already and is not shared again.
        stored = Stored(first_published_at=stored.first_published_at)
    if stored is not None and stored.state is not None:
        if not supersedes(
            event.version,
            event.updated_at,
            event.publishes,
            stored.version,
            stored.time,
            stored.published,
        ):
            same = (stored.version, stored.time, stored.published) == (
                event.version,
                event.updated_at,
                event.publishes,
            )
            return Change("duplicate" if same else "stale", state=stored.state, feeds=stored.feeds)
    old = stored.feeds if stored is not None and stored.published else ()
    if event.article is not None:
        new = tuple(feed_keys(event.article))
        first = stored is None or not stored.first_published_at
        return Change(
            "applied",
            "published",
            feeds=new,
            leave=tuple(k for k in old if k not in new),
            first_publish=first,
            touched=tuple(dict.fromkeys(old + new)),
        )
    return Change(
        "applied",
        "unpublished",
        feeds=(),
        leave=old,
        retracted=bool(stored is not None and stored.published),
        touched=old,
    )
