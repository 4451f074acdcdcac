"""worker/store/dead.py with the repositories that add and remove letters, on the real Redis:
a replayed unit that fails again is not left marked "retry under way", and one that works
leaves no mark behind."""

from __future__ import annotations

from worker.store import keys
from worker.store.dead import Reason, event_letter, render_letter


def test_a_replayed_event_that_fails_again_loses_its_replayed_mark(service, settings):
    from worker.runtime import Runtime

    store = Runtime(settings).store
    assert store.events.accept("evt-dead-1", "article.published", "dead-1", "{}")
    store.events.start("evt-dead-1")
    store.events.finish("evt-dead-1", "failed", None, error="boom")
    name = event_letter("evt-dead-1")
    store.dead.mark_replayed(name)
    assert store.events.requeue("evt-dead-1")
    store.events.start("evt-dead-1")
    store.events.finish("evt-dead-1", "failed", None, error="boom again")
    [letter] = [d for d in store.dead.newest() if d.name == name]
    assert letter.replayed_at is None  # failed again: no longer "retry under way"
    store.events.finish("evt-dead-1", "done", {})
    assert not store.dead.contains(name) and service.redis.hget(keys.REPLAYED, name) is None


def test_a_replayed_render_that_works_leaves_no_mark(service, settings):
    from tests.support import publish
    from worker import rendering
    from worker.runtime import Runtime

    publish(service, "seed-article-published")
    rt = Runtime(settings)
    name = render_letter("tag/nato")
    rt.store.dead.add(name, Reason.INTERNAL)
    rt.store.dead.mark_replayed(name)
    rt.store.feeds.mark_dirty("tag/nato")
    assert not rendering.render_and_save(rt, "tag/nato").failed
    assert not rt.store.dead.contains(name)
    assert service.redis.hget(keys.REPLAYED, name) is None  # `syn:dead:replayed` does not grow
