"""A takedown (`syndicate purge ID`), carried out by the workers with the service's own
configuration, wherever the command was typed.

One Celery task (`worker.tasks.takedown`), run again through the Redis schedule until the
takedown has ended, moves the record in `worker/store/takedowns.py` along:

1. `queued`: the store purge (`Articles.purge`): text, events, the words kept for networks and
   the article's items leave Redis; the feeds it was in are marked for rendering, and those it
   leaves empty stop being feeds; deletions of its posts are queued.
2. `rendering`: the renderers render those feeds (their bytes, the static export and the hub
   pings all come from the one render path); a feed no longer a feed is removed (bytes and
   files). Each run checks whether every feed has been rendered past the purge.
3. `done` (or `incomplete` past the deadline, saying what is missing): every copy is checked (no
   item of the article in any stored or exported feed, no file of a removed feed) and Redis's
   append-only file is rewritten so the log on disk no longer holds the removed values.
"""

from __future__ import annotations

import gzip
import logging
import time
from typing import Any

from feeds.describe import FORMATS, item_id
from feeds.render import item_ids
from syndicate.logs import mask
from worker import enqueue, export, fediverse
from worker.runtime import Runtime
from worker.social import NETWORKS, REGISTRY

log = logging.getLogger("syndicate.takedown")

DEADLINE_S = 120  # renders of every feed and the log rewrite, or the takedown is `incomplete`
CHECK_EVERY_S = 0.25  # how often a takedown under way looks at the renders


def step(rt: Runtime, article_id: str) -> str:
    """Move one takedown along; returns its state. Safe to run twice."""
    takedowns = rt.store.takedowns
    record = takedowns.get(article_id)
    state = record.get("state")
    if state == "queued":
        purged = rt.store.purges.purge(article_id, NETWORKS)
        if purged is None:
            takedowns.finish(article_id, "incomplete", {"error": "no such article"})
            return "incomplete"
        if rt.settings.activitypub:  # every inbox that received it gets a Delete (Tombstone)
            fediverse.retract(rt, article_id)
        report = {
            "events_removed": purged["events_removed"],
            "feeds": len(purged["feeds"]),
            "feeds_removed": len(purged["removed_feeds"]),
            "posts": _delete_posts(article_id, purged["posts_to_delete"]),
        }
        targets = rt.store.feeds.versions(purged["feeds"])
        takedowns.rendering(article_id, targets, time.time() + DEADLINE_S, report)
        record = takedowns.get(article_id)
        state = "rendering"
    if state != "rendering":
        return state or "unknown"
    report = record["report"]
    waiting = _not_yet_rendered(rt, record["targets"])
    log_state = report.get("log")
    if not waiting and log_state in (None, "busy"):
        report["log"] = log_state = rt.store.rewrite_log()
    elif log_state == "started" and not rt.store.log_rewrite_running():
        report["log"] = log_state = "rewritten"
    if (waiting or log_state in ("busy", "started")) and time.time() < float(record["deadline"]):
        takedowns.progress(article_id, report)
        rt.store.schedule.add("takedown", [article_id], CHECK_EVERY_S)
        return "rendering"
    report["checks"] = _checks(rt, article_id, list(record["targets"]), waiting)
    complete = not waiting and all(
        v in ("clean", "not configured", "none configured") or v.startswith("told")
        for v in report["checks"].values()
    )
    state = "done" if complete and log_state == "rewritten" else "incomplete"
    takedowns.finish(article_id, state, report)
    log.info("takedown of %s %s", article_id, state, extra={"article_id": article_id})
    return state


def step_failed(rt: Runtime, article_id: str, reason: str) -> str:
    """A step raised (Redis away, a bug): try again in a second, within twice the deadline
    from the request; past that the takedown ends `incomplete` with the reason, so a step that
    always fails neither retries for ever nor leaves the operator waiting."""
    record = rt.store.takedowns.get(article_id)
    if time.time() > float(record.get("requested_at") or 0) + 2 * DEADLINE_S:
        kept = record.get("report")
        report: dict[str, Any] = kept if isinstance(kept, dict) else {}
        rt.store.takedowns.finish(article_id, "incomplete", {**report, "error": mask(reason)[:300]})
        return "incomplete"
    rt.store.schedule.add("takedown", [article_id], 1.0)
    return "retry"


def _delete_posts(article_id: str, networks: list[str]) -> dict[str, str]:
    """Queue the deletion of every post still up; say which network cannot delete."""
    out = {}
    for network in networks:
        if REGISTRY[network].can_delete:
            enqueue.deliver(article_id, network, "delete")
            out[network] = "deletion queued"
        else:
            out[network] = "cannot be deleted through its API: remove it by hand"
    return out


def _not_yet_rendered(rt: Runtime, targets: dict[str, int]) -> list[str]:
    """Feeds whose renders have not yet caught up with the purge (a removed feed is done once
    its bytes are gone)."""
    rendered = rt.store.feeds.renders_since(list(targets), time.time())
    waiting = []
    for key, version in targets.items():
        now = rendered[key][0]
        gone = now is None and not rt.store.articles.is_feed(key)
        if not gone and (now is None or now < version):
            waiting.append(key)
    return waiting


def _checks(rt: Runtime, article_id: str, feeds: list[str], waiting: list[str]) -> dict[str, str]:
    """Every copy looked at: the stored bytes, the exported files, the hubs."""
    ident = item_id(article_id)
    in_store, in_export = [], []
    export_dir = rt.settings.export_dir
    for key in feeds:
        bodies = rt.store.feeds.bodies(key)
        if any(ident in item_ids(fmt, body) for fmt, body in bodies.items()):
            in_store.append(key)
        if export_dir is None:
            continue
        for fmt in FORMATS:
            path = export.path_of(export_dir, key, fmt)
            for candidate, read in (
                (path, lambda p: p.read_bytes()),
                (path.with_name(path.name + ".gz"), lambda p: gzip.decompress(p.read_bytes())),
            ):
                try:
                    data = read(candidate)
                except FileNotFoundError:
                    continue
                if not bodies or ident in item_ids(fmt, data):  # a removed feed's file, or
                    in_export.append(key)  # the item still in it
                    break
    checks: dict[str, str] = {
        "renders": "clean" if not waiting else f"{len(waiting)} feeds not rendered yet",
        "store": "clean" if not in_store else "still in " + ", ".join(sorted(in_store)),
        "export": (
            "not configured"
            if export_dir is None
            else "clean"
            if not in_export
            else "still in " + ", ".join(sorted(set(in_export)))
        ),
        "hubs": (f"told of {len(feeds)} feeds" if rt.settings.websub_hubs else "none configured"),
    }
    return checks


def summary(record: dict[str, Any]) -> list[str]:
    """The lines `syndicate purge` prints for a takedown record."""
    report = record.get("report") or {}
    lines = [f"state: {record.get('state', 'unknown')}"]
    if "error" in report:
        lines.append(f"error: {report['error']}")
        return lines
    lines.append(
        f"events removed: {report.get('events_removed', 0)}; feeds re-rendered: "
        f"{report.get('feeds', 0) - report.get('feeds_removed', 0)}; feeds removed "
        f"(left empty): {report.get('feeds_removed', 0)}"
    )
    for network, what in sorted((report.get("posts") or {}).items()):
        lines.append(f"post on {network}: {what}")
    for name, value in (report.get("checks") or {}).items():
        lines.append(f"{name}: {value}")
    if report.get("log"):
        lines.append(f"Redis append-only file: {report['log']}")
    return lines
