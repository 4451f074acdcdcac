"""One feed rendered from the stored articles, published, and announced to the hubs.

The renderer processes (worker.renderer) come here; operator commands (`rebuild`, `backfill`)
and takedowns ask them through `by_workers` and the render queue, never render themselves. A render
that raises is recorded on the feed (reason, failures), retried with the RENDER backoff through
the Redis schedule and, after its last attempt, dead-lettered; it never stops other feeds. An
item that cannot be written is left out of its feed (and logged), never the feed itself.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from feeds.describe import describe
from feeds.render import render
from worker import enqueue, export, podping
from worker import hub as own_hub
from worker.retry import RENDER
from worker.runtime import Runtime
from worker.store.articles import STANDING_FEEDS
from worker.store.dead import Reason, render_letter
from worker.store.rendered import etag_of

log = logging.getLogger("syndicate.render")


@dataclass(frozen=True)
class RenderOutcome:
    key: str
    changed: bool
    items: int
    seconds: float
    failed: str = ""  # the reason, when the render raised
    announce: bool = False  # the hubs are told: new bytes published (and exported, if so set)


def render_and_save(rt: Runtime, feed_key: str) -> RenderOutcome:
    """Render one feed, publish the bytes, then export them; a failure is recorded, scheduled
    for a retry with backoff (or dead-lettered), and returned, not raised."""
    store, settings = rt.store, rt.settings
    version, articles, deleted, unreadable = store.articles.for_render(
        feed_key, settings.feed_size, settings.deleted_entry_days * 86400
    )
    started = time.perf_counter()
    if not articles and not unreadable and _no_longer_a_feed(rt, feed_key):
        return _remove(rt, feed_key, version, started)
    try:
        desc = describe(feed_key, podping.site(rt), articles)
        rendered = render(desc, articles, deleted)
    except Exception as exc:  # noqa: BLE001 - whatever it is, it is this feed's alone
        return _failed(rt, feed_key, version, f"{type(exc).__name__}: {exc}", started)
    elapsed = time.perf_counter() - started
    skipped = (*unreadable, *rendered.skipped)
    for article_id, reason in skipped:
        log.warning(
            "article %s left out of %s: %s",
            article_id,
            feed_key,
            reason,
            extra={"feed": feed_key, "article_id": article_id},
        )
    bodies = rendered.bodies()
    # Published first: what the API serves (a retraction above all) never waits on a disk.
    changed = store.feeds.save(
        feed_key, version, bodies, len(rendered.written), skipped, title=desc.title
    )
    store.feeds.count_render(elapsed)
    if changed:  # an unchanged render put nobody new in the feed
        store.articles.mark_rendered(feed_key, list(rendered.written), time.time())
    announce = changed
    if settings.export_dir is not None:
        # The files follow; the hubs are told only once they are in place (a hub fetches on
        # the ping, possibly from the export). A write that fails is retried on its own.
        announce = _export(rt, settings.export_dir, feed_key, bodies)
    return RenderOutcome(feed_key, changed, len(rendered.written), elapsed, announce=announce)


def _export(rt: Runtime, export_dir: Path, feed_key: str, bodies: dict[str, bytes]) -> bool:
    """Write the feed's files if they are not these bytes yet; True if they were written.
    A failure is the export's alone: recorded, retried with the RENDER backoff (the retry's
    render finds the same bytes published and writes them), dead-lettered in the end."""
    etags = {fmt: etag_of(body) for fmt, body in bodies.items()}
    if rt.store.exports.etags(feed_key, list(etags)) == list(etags.values()) and not export.missing(
        export_dir, feed_key
    ):
        return False
    try:
        export.write(export_dir, feed_key, bodies)
    except OSError as exc:
        reason = f"export: {type(exc).__name__}: {exc}"
        failures = rt.store.exports.failed(feed_key, reason)
        _retry_or_give_up(rt, feed_key, failures)
        log.warning(
            "export of %s failed (%d): %s", feed_key, failures, reason, extra={"feed": feed_key}
        )
        return False
    rt.store.exports.written(feed_key, etags)
    return True


def _no_longer_a_feed(rt: Runtime, feed_key: str) -> bool:
    return feed_key not in STANDING_FEEDS and not rt.store.articles.is_feed(feed_key)


def _remove(rt: Runtime, feed_key: str, version: int, started: float) -> RenderOutcome:
    """A feed a takedown left empty: its bytes and files go (its very name may be the
    person's), and the hubs are told (they find it gone)."""
    if not rt.store.feeds.drop(feed_key, version):
        return RenderOutcome(feed_key, False, 0, time.perf_counter() - started)  # changed again
    if rt.settings.export_dir is not None:
        try:
            export.remove(rt.settings.export_dir, feed_key)
        except OSError as exc:
            return _failed(rt, feed_key, version, f"export: {type(exc).__name__}: {exc}", started)
    rt.store.exports.forget(feed_key)
    log.info("feed %s removed: no article left in it", feed_key, extra={"feed": feed_key})
    return RenderOutcome(feed_key, True, 0, time.perf_counter() - started, announce=True)


def _failed(rt: Runtime, feed_key: str, version: int, reason: str, started: float) -> RenderOutcome:
    """Record a failed render, schedule its retry (or dead-letter it), and say so."""
    reason = reason[:300]
    failures = rt.store.feeds.failed(feed_key, version, reason)
    _retry_or_give_up(rt, feed_key, failures)
    log.warning(
        "render of %s failed (%d): %s", feed_key, failures, reason, extra={"feed": feed_key}
    )
    return RenderOutcome(feed_key, False, 0, time.perf_counter() - started, failed=reason)


def _retry_or_give_up(rt: Runtime, feed_key: str, failures: int) -> None:
    if RENDER.gives_up(failures):
        rt.store.dead.add(render_letter(feed_key), Reason.INTERNAL)
    else:
        rt.store.schedule.add(
            "render", [feed_key], RENDER.backoff_s(failures, rt.settings.retry_base_s)
        )


def render_and_publish(rt: Runtime, feed_key: str) -> RenderOutcome:
    """`render_and_save`, then a ping to every hub if the bytes changed: what the renderer
    loop and `syndicate rebuild` each do for one feed."""
    outcome = render_and_save(rt, feed_key)
    if outcome.announce:
        for hub in rt.settings.websub_hubs:
            enqueue.ping(feed_key, hub)
        podping.changed(rt, feed_key)  # the audio feed's new bytes, when Podping is on
        if rt.settings.websub_hub:  # our own hub: the subscribers get these bytes
            own_hub.distribute(rt, feed_key)
    if not outcome.failed:
        log.info(
            "rendered %s (%d items, %.1f ms, %s)",
            feed_key,
            outcome.items,
            outcome.seconds * 1000,
            "changed" if outcome.changed else "unchanged",
            extra={"feed": feed_key, "duration_ms": round(outcome.seconds * 1000, 3)},
        )
    return outcome


class NoRenderer(RuntimeError):
    """No worker's renderer is running: feeds can be marked, not rendered."""


def by_workers(
    rt: Runtime, feed_keys: list[str], timeout_s: float = 600.0, again: bool = True
) -> Iterator[tuple[str, str]]:
    """Have the service's renderers render these feeds once more (`again`; otherwise only
    those whose last render is older than their latest change, each once), and yield
    (key, error) as each is done ("" when it rendered). What an operator command does instead of rendering
    itself: the renderers use the service's own configuration (titles, links, feed size, the
    export, the hubs), whatever the operator's shell holds, and renders of one feed stay one
    at a time. Raises NoRenderer, or TimeoutError with the number of feeds still waiting."""
    if not feed_keys:
        return
    if not rt.store.workers.live_renderers():
        raise NoRenderer(
            "no renderer is running: start the service (`syndicate run` or "
            "`syndicate worker`) first"
        )
    touched_at = time.time()
    if again:
        pending = rt.store.feeds.touch(feed_keys)  # bumps versions, marks them for rendering
    else:
        pending = rt.store.feeds.versions(feed_keys)
        rendered = rt.store.feeds.renders_since(feed_keys, touched_at)
        behind = [k for k, v in pending.items() if (rendered[k][0] or -1) < v]
        rt.store.feeds.mark_dirty(*behind)  # a feed queued already keeps its place
    deadline = time.monotonic() + timeout_s
    while pending:
        done = rt.store.feeds.renders_since(list(pending), touched_at)
        for key, (version, error) in done.items():
            if version is not None and version >= pending[key]:
                del pending[key]
                yield key, ""
            elif error:
                del pending[key]
                yield key, error
        if pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(pending)} feeds not rendered yet")
            time.sleep(0.05 if len(pending) < 100 else 0.25)
