"""The dead letters as the operator sees them (`syndicate replay --list`, `status`, the status
page) and their replay (`syndicate replay`, the page's Retry), both read from the table of kinds
of work (worker/work.py `LETTERS`): a letter's prefix names its kind, whose entry says what the
letter shows, how it is replayed and what the operator is told. A new kind of work with dead
letters is a new entry there, nothing here.

A letter leaves the list only when its retry succeeds (its domain removes it then) or is
recorded again with its new failure: replaying never loses one.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from worker.hints import hint
from worker.runtime import Runtime
from worker.store.dead import Letter
from worker.work import LETTERS, Letters


def resolve(path: str) -> Callable[[Runtime, str], Any]:
    """A kind's `show` or `replay`, from its "module:function" path."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def _unknown(kind: str) -> Letters:
    """What a letter of a kind no longer in the table gets: listed, never replayed."""
    return Letters(
        kind,
        "",
        "",
        f"No kind of work has letters named {kind}:…; nothing replays it (was it removed?).",
    )


def show(rt: Runtime, letter: Letter) -> dict[str, Any]:
    """One letter on the list: its name, kind, times, reason, what its kind shows of it (its
    error among them), and the hint."""
    letters = LETTERS.get(letter.kind) or _unknown(letter.kind)
    item: dict[str, Any] = {
        "name": letter.name,
        "kind": letter.kind,
        "failed_at": letter.failed_at,
        "replayed_at": letter.replayed_at,
        "reason": letter.reason,
        "article_id": "",
        "error": "",
    }
    if letters.show:
        item.update(resolve(letters.show)(rt, letter.key))
    remote, credentials = item.pop("remote", ""), item.pop("credentials", ())
    item["hint"] = hint(letters, letter.reason, item["error"], remote, credentials)
    return item


def dead_letters(rt: Runtime, limit: int = 100) -> list[dict[str, Any]]:
    """Units of work that ran out of retries, newest first, with their last error and the
    title of their article, if they have one."""
    out = [show(rt, letter) for letter in rt.store.dead.newest(limit)]
    titles = rt.store.articles.titles([i["article_id"] for i in out if i["article_id"]])
    for item in out:
        item["title"] = titles.get(item["article_id"], "")
    return out


def replay(rt: Runtime, only: str | None = None) -> list[dict[str, Any]]:
    """Give every dead letter (or the one named `only`) a fresh set of retries, by its kind's
    `replay`. The letter stays listed (marked as replayed) until the retry succeeds or fails
    again. The letters replayed, by name and kind."""
    if only is None:
        letters = rt.store.dead.newest(10_000)
    else:
        one = rt.store.dead.get(only)
        letters = [one] if one else []
    replayed = []
    for letter in letters:
        kind = LETTERS.get(letter.kind)
        if kind is not None and resolve(kind.replay)(rt, letter.key):
            rt.store.dead.mark_replayed(letter.name)
            replayed.append({"name": letter.name, "kind": letter.kind})
    return replayed
