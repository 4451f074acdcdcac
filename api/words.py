"""The words the pages use for states and outcomes: one place, plain words rather than the
store's terms (`stale` is "older version, ignored")."""

from __future__ import annotations

WORDS = {
    # an event (worker/store/events.py)
    "queued": "waiting",
    "processing": "being applied",
    "done": "done",
    "failed": "failed",
    # what an event changed (feeds/lifecycle.py)
    "applied": "applied",
    "stale": "older version, ignored",
    "duplicate": "already applied, ignored",
    "purged": "taken down, ignored",
    # a post on a network (worker/store/outbox.py)
    "pending": "waiting to post",
    "sent": "posted",
    "deleted": "post deleted",
    "skipped": "not shared",
    # an operator's action (worker/store/actions.py)
    "backfill": "imported an archive",
    "rebuild": "rendered feeds again",
    "replay": "retried",
    "purge": "took down",
    "unpurge": "allowed back",
}


def say(term: object) -> str:
    """The plain words for a state or an outcome; an unknown term as it is."""
    text = str(term or "")
    return WORDS.get(text, text)
