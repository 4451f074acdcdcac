"""One feed rendered from the stored articles, published, and announced to the hubs.

The renderer loop (worker.scheduler), `syndicate rebuild` and the tests all come here. A render
that raises is recorded on the feed (reason, failures), retried with the RENDER backoff through
the Redis schedule and, after its last attempt, dead-lettered; it never stops other feeds. An
item that cannot be written is left out of its feed (and logged), never the feed itself.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from feeds.describe import describe
from feeds.render import render
from worker import enqueue, export
from worker.retry import RENDER
from worker.runtime import Runtime
from worker.store.dead import render_letter
from worker.store.feeds import etag_of

log = logging.getLogger("syndicate.render")


@dataclass(frozen=True)
class RenderOutcome:
    key: str
    changed: bool
    items: int
    seconds: float
    failed: str = ""  # the reason, when the render raised


def render_and_save(rt: Runtime, feed_key: str) -> RenderOutcome:
    """Render one feed and publish the bytes; a failure is recorded, scheduled for a retry with
    backoff (or dead-lettered), and returned, not raised."""
    store, settings = rt.store, rt.settings
    version, articles, deleted, unreadable = store.articles.for_render(
        feed_key, settings.feed_size, settings.deleted_entry_days * 86400)
    started = time.perf_counter()
    try:
        desc = describe(feed_key, rt.site, articles)
        rendered = render(desc, articles, deleted)
    except Exception as exc:  # noqa: BLE001 - whatever it is, it is this feed's alone
        return _failed(rt, feed_key, version, f"{type(exc).__name__}: {exc}", started)
    elapsed = time.perf_counter() - started
    skipped = (*unreadable, *rendered.skipped)
    for article_id, reason in skipped:
        log.warning("article %s left out of %s: %s", article_id, feed_key, reason,
                    extra={"feed": feed_key, "article_id": article_id})
    bodies = rendered.bodies()
    export_dir = settings.export_dir
    if export_dir is not None and _export_needed(rt, export_dir, feed_key, bodies):
        # Before the bytes are published, so before any hub hears of them. A write that fails
        # is this feed's render failing: counted, retried with backoff, dead-lettered in the
        # end; nothing was published, so the retry exports and pings.
        try:
            export.write(export_dir, feed_key, bodies)
        except OSError as exc:
            return _failed(rt, feed_key, version, f"export: {type(exc).__name__}: {exc}", started)
    items = len(articles) - len(rendered.skipped)
    changed = store.feeds.save(feed_key, version, bodies, items, skipped, title=desc.title)
    store.feeds.count_render(elapsed)
    if changed:  # an unchanged render put nobody new in the feed
        left_out = {article_id for article_id, _ in skipped}
        store.articles.mark_rendered(feed_key, [a.id for a in articles if a.id not in left_out],
                                     time.time())
    return RenderOutcome(feed_key, changed, items, elapsed)


def _export_needed(rt: Runtime, export_dir: Path, feed_key: str, bodies: dict[str, bytes]) -> bool:
    """New bytes (their ETags differ from the published ones), or files missing."""
    fmts = list(bodies)
    published = rt.store.feeds.etags(feed_key, fmts)
    return (published != [etag_of(bodies[fmt]) for fmt in fmts]
            or export.missing(export_dir, feed_key))


def _failed(rt: Runtime, feed_key: str, version: int, reason: str,
            started: float) -> RenderOutcome:
    """Record a failed render, schedule its retry (or dead-letter it), and say so."""
    store, settings = rt.store, rt.settings
    reason = reason[:300]
    failures = store.feeds.failed(feed_key, version, reason)
    if RENDER.gives_up(failures):
        store.dead.add(render_letter(feed_key))
    else:
        store.schedule.add("render", [feed_key], RENDER.backoff_s(failures, settings.retry_base_s))
    log.warning("render of %s failed (%d): %s", feed_key, failures, reason,
                extra={"feed": feed_key})
    return RenderOutcome(feed_key, False, 0, time.perf_counter() - started, failed=reason)


def render_and_publish(rt: Runtime, feed_key: str) -> RenderOutcome:
    """`render_and_save`, then a ping to every hub if the bytes changed: what the renderer
    loop and `syndicate rebuild` each do for one feed."""
    outcome = render_and_save(rt, feed_key)
    if outcome.changed:
        for hub in rt.settings.websub_hubs:
            enqueue.ping(feed_key, hub)
    if not outcome.failed:
        log.info("rendered %s (%d items, %.1f ms, %s)", feed_key, outcome.items,
                 outcome.seconds * 1000, "changed" if outcome.changed else "unchanged",
                 extra={"feed": feed_key, "duration_ms": round(outcome.seconds * 1000, 3)})
    return outcome


def rebuild(rt: Runtime, feed_keys: Iterable[str]) -> Iterator[RenderOutcome]:
    """Re-render each feed once; hubs hear about those whose bytes changed."""
    for key in feed_keys:
        yield render_and_publish(rt, key)
