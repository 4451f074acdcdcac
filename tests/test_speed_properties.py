"""Speed as properties, not timings (timings live in bench/): a burst renders each feed a
bounded number of times and loses no update; an event's cost does not grow with the archive."""

from __future__ import annotations

import json
import random
from concurrent.futures import ThreadPoolExecutor

import redis

from bench.events import article_event
from feeds.article import ArticleEvent
from feeds.describe import describe
from feeds.membership import feed_keys
from feeds.render import render
from syndicate.embedded_redis import EmbeddedRedis
from tests.support import free_port
from worker import rendering
from worker.runtime import Runtime
from worker.store import keys


def test_a_concurrent_burst_renders_a_few_times_and_ends_on_the_final_state(
    service, settings, worker
):
    """100 events (updates of 20 articles, shuffled, from 8 threads) against the worker pool:
    the final bytes equal a render from scratch of the final articles."""
    rnd = random.Random(7)
    events = [article_event(n, version=v) for n in range(20) for v in (1, 2, 3, 4, 5)]
    rnd.shuffle(events)
    for event in events:  # each version moves the article to another tag feed
        article = event["article"]
        article["tags"] = [f"burst-{(int(article['id'][-2:]) + article['version']) % 4}"]
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda e: service.send(e).status_code, events))
    assert codes == [202] * len(events)
    for event in events:
        service.event_done(event["id"], timeout=60)
    service.settle(timeout=60)

    final: dict[str, ArticleEvent] = {}
    for event in events:
        parsed = ArticleEvent.from_payload(event["id"], event)
        if parsed.article_id not in final or parsed.version > final[parsed.article_id].version:
            final[parsed.article_id] = parsed
    articles = [e.article for e in final.values()]
    site = Runtime(settings).site
    touched = {k for e in events for k in feed_keys(ArticleEvent.from_payload(e["id"], e).article)}
    for key in sorted(touched):
        members = sorted(
            (a for a in articles if key in feed_keys(a)), key=lambda a: a.published_at, reverse=True
        )[: settings.feed_size]
        # (JSON Feed has no deleted entries, so articles that moved between tag feeds are simply
        # absent from the old one: the comparison is of the items alone.)
        expected = render(describe(key, site, members), members).json
        served = service.client.get(f"/feeds/{key}.json", headers={"Accept-Encoding": "identity"})
        assert json.loads(served.content)["items"] == json.loads(expected)["items"], key
    renders_all = int(service.redis.hget(keys.meta_key("all"), "renders"))
    assert renders_all < len(events)  # coalesced: fewer renders than events touching `all`


def _cost_of_one_event(r: redis.Redis, rt: Runtime, n: int) -> tuple[int, int]:
    """Commands and bytes Redis handled for one new event and the renders it causes."""
    before = r.info("stats")
    event = article_event(n)
    applied = rt.store.articles.apply(
        ArticleEvent.from_payload(event["id"], event), {}, defer_render=True
    )
    for key in applied.touched_feeds:
        rendering.render_and_save(rt, key)
    after = r.info("stats")
    return (
        after["total_commands_processed"] - before["total_commands_processed"] - 2,
        after["total_net_output_bytes"] - before["total_net_output_bytes"],
    )


def test_an_events_cost_is_flat_however_many_articles_are_stored(settings, tmp_path):
    server = EmbeddedRedis(tmp_path / "redis", port=free_port())  # TCP: no AUTH to count
    server.start()
    try:
        rt = Runtime(
            settings.with_(redis_url=server.url, broker_url=None, feed_size=10, websub_hubs=())
        )
        r = redis.Redis.from_url(server.url)
        plan = {}
        costs = {}
        loaded = 0
        for size in (1000, 3000):
            for n in range(loaded, size):
                event = article_event(n)
                rt.store.articles.apply(
                    ArticleEvent.from_payload(event["id"], event), plan, defer_render=True
                )
            loaded = size
            _cost_of_one_event(r, rt, 10_000_000 + size)  # warm: scripts loaded, caches filled
            costs[size] = _cost_of_one_event(r, rt, 10_000_001 + size)
            widest = max(r.zcard(k) for k in r.scan_iter(keys.items_key("*")))
            assert widest <= rt.store.articles.membership_cap  # capped near the feed size (10)
        commands_1k, bytes_1k = costs[1000]
        commands_3k, bytes_3k = costs[3000]
        assert commands_3k == commands_1k, costs
        assert abs(bytes_3k - bytes_1k) <= 0.1 * bytes_1k, costs
    finally:
        server.stop()
