"""What the status page adds for a night editor, as functions of a Runtime: the last 24 hours
hour by hour, whether the CMS has gone quiet for longer than usual, a search by headline or
id, each feed's last render, what operators did, and how to turn on a network that is off.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from worker.runtime import Runtime
from worker.social import REGISTRY
from worker.store.events import RECENT_KEPT

QUIET_FACTOR = 4  # quiet: no event for this many times the usual (median) gap ...
QUIET_FLOOR_S = 15 * 60  # ... and never sooner than this
QUIET_MIN_EVENTS = 4  # fewer events in 24 h: no usual gap to speak of
SEARCH_MAX = 200  # characters of a query
SEARCH_RESULTS = 20
FEEDS_SHOWN = 50
FEEDS_READ = 2_000


def span(seconds: float) -> str:
    """A duration in words an editor reads at a glance: `2 h 5 min`, `12 min`, `40 s`."""
    seconds = max(int(seconds), 0)
    if seconds >= 86_400:
        return f"{seconds // 86_400} d {seconds % 86_400 // 3600} h"
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 60} min" if seconds >= 60 else f"{seconds} s"


def chart(rt: Runtime, now: float | None = None) -> dict[str, Any]:
    """Events from the CMS and posts sent, per hour over the last 24 hours (current hour last)."""
    hours = [
        {"start": start, "events": events, "posts": posts}
        for start, events, posts in rt.store.activity.hours(24, now)
    ]
    return {
        "hours": hours,
        "top": max([1] + [max(h["events"], h["posts"]) for h in hours]),
        "events": sum(h["events"] for h in hours),
        "posts": sum(h["posts"] for h in hours),
    }


def quiet(rt: Runtime, last_event_at: float = 0.0, now: float | None = None) -> dict[str, Any]:
    """When the CMS's last event came and whether it is quiet for longer than usual: no event
    for QUIET_FACTOR times the median gap between the last 24 hours' events (at least
    QUIET_FLOOR_S), or none at all in 24 hours after earlier ones."""
    now = time.time() if now is None else now
    arrivals = rt.store.activity.arrivals(now)
    last = max(arrivals[-1] if arrivals else 0.0, last_event_at)
    out: dict[str, Any] = {"last_at": last, "quiet": False, "usual_s": None, "words": ""}
    if not last:
        out["words"] = "No event from the CMS yet."
        return out
    silent = now - last
    out["words"] = f"Last event from the CMS {span(silent)} ago."
    if len(arrivals) >= QUIET_MIN_EVENTS:
        usual = statistics.median(b - a for a, b in zip(arrivals, arrivals[1:]))
        out["usual_s"] = usual
        limit = max(usual * QUIET_FACTOR, QUIET_FLOOR_S)
        if silent > limit:
            out.update(
                quiet=True,
                warning=(
                    f"The CMS has sent nothing for {span(silent)}; over the last 24 hours it sent "
                    f"an event every {span(usual)} or so. Check that the CMS is up and still sends "
                    "its webhooks (its queue, its log), then `syndicate status`."
                ),
            )
    elif not arrivals and silent > 86_400:
        out.update(
            quiet=True,
            warning=(
                f"The CMS has sent nothing for {span(silent)}. Check that it is up and still sends "
                "its webhooks (its queue, its log)."
            ),
        )
    return out


def search(rt: Runtime, query: str) -> dict[str, Any]:
    """Articles whose headline holds `query` (among the articles of the last RECENT_KEPT
    events), or whose id, or one of whose events' id, is exactly `query`."""
    query = " ".join(query.split())
    if len(query) > SEARCH_MAX:
        return {
            "query": query[:SEARCH_MAX],
            "results": [],
            "error": f"A search is at most {SEARCH_MAX} characters.",
        }
    if not query:
        return {"query": "", "results": []}
    recent = rt.store.events.summaries(rt.store.events.recent_ids(RECENT_KEPT))
    latest: dict[str, tuple[str, dict[str, str]]] = {}
    for event_id, record in recent.items():  # newest first: each article's latest event
        latest.setdefault(record["article_id"], (event_id, record))
    wanted: list[str] = []
    event = rt.store.events.summaries([query]).get(query)
    if event:  # an event's id
        wanted.append(event["article_id"])
        latest.setdefault(event["article_id"], (query, event))
    if rt.store.articles.state(query) is not None:  # an article's id
        wanted.append(query)
    titles = rt.store.articles.titles(list(dict.fromkeys([*wanted, *latest])))
    folded = query.casefold()
    wanted += [a for a in latest if folded in titles.get(a, "").casefold()]
    wanted = list(dict.fromkeys(wanted))
    results = []
    for article_id in wanted[:SEARCH_RESULTS]:
        event_id, record = latest.get(article_id, ("", {}))
        results.append(
            {
                "article_id": article_id,
                "title": titles.get(article_id, ""),
                "event_id": event_id,
                "type": record.get("type", ""),
                "status": record.get("status", ""),
                "received_at": float(record.get("received_at") or 0),
            }
        )
    return {"query": query, "results": results, "more": len(wanted) > SEARCH_RESULTS}


def feed_renders(rt: Runtime) -> dict[str, Any]:
    """Each feed's last render, newest first (the first FEEDS_SHOWN of them)."""
    keys = rt.store.articles.all_feeds()
    status = rt.store.feeds.status(keys[:FEEDS_READ])
    rows: list[dict[str, Any]] = [
        {"key": key, "rendered_at": float(s["rendered_at"] or 0), "items": s.get("items", "")}
        for key, s in status.items()
    ]
    rows.sort(key=lambda r: -float(r["rendered_at"]))
    return {"feeds": rows[:FEEDS_SHOWN], "more": max(len(keys) - FEEDS_SHOWN, 0)}


def turn_on(network: str) -> str:
    """How to turn on a network that is off: its variables, where they are described."""
    cls = REGISTRY.get(network)
    if cls is None:
        return ""
    needed = [
        str(f.validation_alias)
        for f in cls.settings_class.model_fields.values()
        if isinstance(f.validation_alias, str) and f.default is None
    ]
    return (
        f"To turn it on, set {', '.join(needed) or 'its credentials'} in the service's "
        "environment (docs/networks.md says which go together), restart the service, then "
        "run `syndicate check`."
    )


def desk(rt: Runtime, last_event_at: float = 0.0, query: str | None = None) -> dict[str, Any]:
    """Everything above for one page view."""
    return {
        "chart": chart(rt),
        "quiet": quiet(rt, last_event_at),
        "search": search(rt, query) if query is not None else None,
        "feed_renders": feed_renders(rt),
        "actions": rt.store.actions.newest(20),
        "turn_on": {network: turn_on(network) for network in REGISTRY},
    }
