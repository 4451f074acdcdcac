"""The phases of `python -m bench` (see bench/__main__.py): each drives the service under test
and returns its figures; nothing here prints them (bench/report.py does) or asserts them."""

from __future__ import annotations

import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import redis
import requests

from bench import serving as srv
from bench.events import article_event
from bench.service import ROOT, Connection, Service, pct, wait_until
from feeds.article import ArticleEvent
from feeds.describe import item_id
from syndicate.config import Settings
from syndicate.embedded_redis import EmbeddedRedis
from syndicate.process import die_with_parent, stop
from worker import ops, rendering
from worker.runtime import Runtime
from worker.store import keys

VISIBLE_WITHIN_S = 30.0


# Sending events ---------------------------------------------------------------------------------
def post_all(svc: Service, events: list[dict], threads: int) -> tuple[list[float], list[float]]:
    """POST every event as fast as `threads` connections go: (latencies, accept times)."""
    signed = [svc.signed(e) for e in events]
    local = threading.local()

    def one(item: tuple[bytes, dict]) -> tuple[float, float]:
        if not hasattr(local, "c"):
            local.c = Connection(svc.base)
        body, headers = item
        started = time.monotonic()
        status, answer = local.c.request("POST", "/events", headers, body)
        done = time.monotonic()
        if status != 202:
            raise SystemExit(f"bench: event refused: {status} {answer[:200]!r}")
        return done - started, done

    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(one, signed))
    return [r[0] for r in results], [r[1] for r in results]


class Watcher:
    """Polls the served bytes (the stored JSON Feed the API hands out) of `all` and of each
    event's tag feed, and notes when each item first appears in each; samples the backlog each
    second. It runs in a process of its own, so parsing feeds never delays the sender's clock
    (time.monotonic is the same clock in every process)."""

    def __init__(self, svc: Service, events: list[dict]) -> None:
        self.svc = svc
        self.tag_feed = [f"tag/{e['article']['tags'][0].lower()}" for e in events]
        ids = [item_id(e["article"]["id"]) for e in events]
        self._stop = multiprocessing.Event()
        self._out: multiprocessing.Queue = multiprocessing.Queue()
        self._proc = multiprocessing.Process(
            target=_watch, daemon=True, args=(svc.url, ids, self.tag_feed, self._stop, self._out)
        )
        self._proc.start()
        self.seen: dict[tuple[int, str], float] = {}
        self.backlog: list[tuple[int, int]] = []

    def stop(self) -> None:
        self._stop.set()
        self.seen, self.backlog = self._out.get()
        self._proc.join()

    def visible(self, accepted_at: list[float | None]) -> dict[str, list[float]]:
        """Seconds from the 202 to the item in `all`, in its tag feed, and in both."""
        out: dict[str, list[float]] = {"all": [], "tag": [], "both": []}
        for i, at in enumerate(accepted_at):
            if at is None:
                continue
            times = {kind: self.seen.get((i, kind)) for kind in ("all", "tag")}
            for kind, when in times.items():
                if when is not None:
                    out[kind].append(max(0.0, when - at))
            seen = [when for when in times.values() if when is not None]
            if len(seen) == len(times):
                out["both"].append(max(0.0, max(seen) - at))
        return out


def _watch(url: str, ids: list[str], tag_feed: list[str], stop, out) -> None:
    r = redis.Redis.from_url(url)
    by_item = {item: i for i, item in enumerate(ids)}
    feeds = sorted({"all", *tag_feed})
    etags: dict[str, bytes] = {}
    seen: dict[tuple[int, str], float] = {}
    backlog: list[tuple[int, int]] = []
    next_sample = time.monotonic() + 1
    while not stop.is_set():
        pipe = r.pipeline(transaction=False)
        for key in feeds:
            pipe.hget(keys.meta_key(key), "etag:json")
        for key, etag in zip(feeds, pipe.execute()):
            if etag is None or etags.get(key) == etag:
                continue
            etags[key] = etag
            now = time.monotonic()
            body = r.get(keys.body_key(key, "json")) or b"{}"
            kind = "all" if key == "all" else "tag"
            for item in json.loads(body).get("items", []):
                i = by_item.get(item["id"])
                if i is not None and (kind == "all" or tag_feed[i] == key):
                    seen.setdefault((i, kind), now)
        if time.monotonic() >= next_sample:
            next_sample += 1
            pipe = r.pipeline()
            pipe.zcard(keys.UNFINISHED)
            pipe.scard(keys.DIRTY)
            backlog.append(tuple(pipe.execute()))
        time.sleep(0.002)
    out.put((seen, backlog))


# Phase 2: steps ---------------------------------------------------------------------------------
def step(svc: Service, rate: float, seconds: float, first_n: int) -> dict:
    count = int(rate * seconds)
    events = [article_event(first_n + i) for i in range(count)]
    signed = [svc.signed(e) for e in events]
    watcher = Watcher(svc, events)
    accepted_at: list[float | None] = [None] * count
    latencies: list[float] = []
    refused = 0
    local = threading.local()

    def send(i: int) -> None:
        nonlocal refused
        body, headers = signed[i]
        t0 = time.monotonic()
        for _ in range(2):  # a keep-alive connection the server closed while idle: a new one
            if not hasattr(local, "c"):
                local.c = Connection(svc.base)
            try:
                status, _ = local.c.request("POST", "/events", headers, body)
                break
            except OSError:
                del local.c
        else:
            status = 0
        if status == 202:
            accepted_at[i] = now = time.monotonic()
            latencies.append(now - t0)
        else:
            refused += 1

    start = time.monotonic()
    with ThreadPoolExecutor(64) as pool:
        for i in range(count):  # open loop: events leave on schedule whatever the answers do
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pool.submit(send, i)
        offered_s = time.monotonic() - start
    accepted_times = [a for a in accepted_at if a is not None]
    accept_s = (max(accepted_times) - start) if accepted_times else float("nan")
    deadline = time.monotonic() + VISIBLE_WITHIN_S
    while not svc.settled() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    watcher.stop()
    visible = watcher.visible(accepted_at)
    within = {k: sum(v <= VISIBLE_WITHIN_S for v in values) for k, values in visible.items()}
    return {
        "rate": rate,
        "offered_per_s": count / offered_s,
        "events": count,
        "accepted": len(accepted_times),
        "refused": refused,
        "accepted_per_s": len(accepted_times) / accept_s,
        "intake_p50_ms": pct(latencies, 50) * 1000,
        "intake_p99_ms": pct(latencies, 99) * 1000,
        **{f"visible_{k}_p{p}_ms": pct(v, p) * 1000 for k, v in visible.items() for p in (50, 99)},
        **{f"visible_{k}_within": n for k, n in within.items()},
        "backlog": watcher.backlog,
    }


# Phase 3: burst ---------------------------------------------------------------------------------
def burst(svc: Service, count: int, first_n: int) -> dict:
    events = [article_event(first_n + n) for n in range(count)]
    renders_before = svc.renders()
    cpu_before = svc.cpu()
    started = time.monotonic()
    latencies, accepted = post_all(svc, events, threads=16)
    intake_s = max(accepted) - started
    wait_until(svc.settled, 600, "the burst to be applied and rendered")
    end_to_end_s = time.monotonic() - started
    cpu_after = svc.cpu()
    return {
        "cpu_ms_per_event": {
            stage: (cpu_after[stage] - cpu_before.get(stage, 0.0)) * 1000 / count
            for stage in cpu_after
        },
        "events": count,
        "accepted_per_s": count / intake_s,
        "intake_p50_ms": pct(latencies, 50) * 1000,
        "intake_p99_ms": pct(latencies, 99) * 1000,
        "end_to_end_per_s": count / end_to_end_s,
        "renders_per_event": (svc.renders() - renders_before) / count,
    }


# Phase 4: scaling -------------------------------------------------------------------------------
def scaling(svc: Service, count: int, first_n: int, counts: tuple[int, ...] = (1, 2, 3)) -> dict:
    """The same backlog drained by k worker processes: events/s from the moment all k workers
    (and their renderers) start on it to the last render. The API and Redis stay as they are."""
    svc.stop_workers()
    out = {}
    for k in counts:  # one more worker each time, so no idle worker's renderer helps out
        events = [article_event(first_n + k * count + i) for i in range(count)]
        post_all(svc, events, threads=16)  # queued: every worker is paused (or none is up)
        svc.start_workers(k - len(svc.workers), paused=True)
        first = time.monotonic()
        svc.resume()  # all k start on the backlog at once
        wait_until(svc.settled, 600, f"{k} workers to drain the backlog")
        out[k] = count / (time.monotonic() - first)
        svc.pause()
    return out


# Phase 5: serving -------------------------------------------------------------------------------
def serving(svc: Service, workdir: Path, seconds: float) -> dict:
    path = "/feeds/all.rss"
    out: dict = {}
    api_body = requests.get(
        svc.base + path, timeout=5, headers={"Accept-Encoding": "identity"}
    ).content

    def pair(base: str) -> tuple[float, float, bool]:
        # The load asks for no encoding, so the ETag to send back is the identity one's.
        answer = requests.get(base + path, timeout=5, headers={"Accept-Encoding": "identity"})
        same = answer.content == api_body
        ok = srv.requests_per_s(base + path, {}, seconds)
        not_modified = srv.requests_per_s(
            base + path, {"If-None-Match": answer.headers["etag"]}, seconds
        )
        return ok, not_modified, same

    out["api"] = pair(svc.base)
    if srv.NGINX:
        exported = srv.Nginx(workdir / "nginx-export", svc.export_dir, srv.deploy_site()).start()
        try:
            out["export"] = pair(exported.url)
        finally:
            exported.stop()
        plain_root = workdir / "plain"
        (plain_root / "feeds").mkdir(parents=True, exist_ok=True)
        (plain_root / "feeds" / "all.rss").write_bytes(api_body)
        os.chmod(plain_root / "feeds" / "all.rss", 0o644)
        plain = srv.Nginx(workdir / "nginx-plain", plain_root, srv.PLAIN).start()
        try:
            out["nginx"] = pair(plain.url)
        finally:
            plain.stop()
    port = srv.free_port()
    baseline = subprocess.Popen(
        [sys.executable, "-m", "bench.baseline", "--port", str(port)],
        env=svc.env,
        cwd=ROOT,
        preexec_fn=die_with_parent,
        stdout=svc.logs,
        stderr=svc.logs,
    )
    try:
        base_url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                return requests.get(base_url + path, timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_until(up, 30, "the baseline server")
        same = requests.get(base_url + path, timeout=5).content == api_body
        out["render"] = (srv.requests_per_s(base_url + path, {}, seconds), float("nan"), same)
    finally:
        stop(baseline)
    return out


# Phase 1: the Celery no-op ceiling --------------------------------------------------------------
def ceiling(svc: Service, count: int, concurrency: int) -> dict:
    # bench.noop defines a second Celery app; importing it only here keeps the others free of it.
    from bench.noop import QUEUE, app, noop, noop_broker_url

    os.environ["SYNDICATE_REDIS_URL"] = svc.url  # bench.noop's app reads the service settings
    r = redis.Redis.from_url(noop_broker_url(svc.url))
    r.flushdb()
    started = time.monotonic()
    with app.producer_or_acquire() as producer:
        for _ in range(count):
            noop.apply_async(producer=producer)
    publish_per_s = count / (time.monotonic() - started)
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "bench.noop",
            "worker",
            "--loglevel=WARNING",
            f"--concurrency={concurrency}",
            "-Q",
            QUEUE,
            "--without-gossip",
            "--without-mingle",
        ],
        env=svc.env,
        cwd=ROOT,
        preexec_fn=die_with_parent,
        stdout=svc.logs,
        stderr=svc.logs,
    )
    try:
        wait_until(lambda: r.llen(QUEUE) < count, 60, "the no-op worker to start")
        first = time.monotonic()
        wait_until(
            lambda: r.llen(QUEUE) == 0 and r.hlen("unacked") == 0, 600, "the no-op queue to drain"
        )
        drained_s = time.monotonic() - first
    finally:
        stop(worker)
    return {"tasks": count, "publish_per_s": publish_per_s, "drain_per_s": count / drained_s}


# Phase 6: storage and flat cost -----------------------------------------------------------------
def storage(workdir: Path, sizes: list[int]) -> dict:
    """On a Redis of its own: memory per article, and one event's cost at each archive size."""
    server = EmbeddedRedis(workdir / "storage-redis", port=srv.free_port())
    url = server.start()
    try:
        rt = Runtime(Settings.from_env({"SYNDICATE_REDIS_URL": url, "SYNDICATE_FEED_SIZE": "50"}))
        r = redis.Redis.from_url(url)
        before = r.info("memory")["used_memory"]
        out: dict = {"sizes": {}}
        loaded = 0
        for size in sizes:
            report = ops.BackfillReport()
            for n in range(loaded, size):
                ops.backfill_line(rt, n, json.dumps(article_event(n)), report)
            # Memory the new articles took (rendered feed bodies were there before and after).
            per_article = (r.info("memory")["used_memory"] - before) / (size - loaded)
            loaded = size
            costs = []
            for k in range(20):
                event = article_event(size + 1_000_000 + k)
                t0 = time.perf_counter()
                applied = rt.store.articles.apply(
                    ArticleEvent.from_payload(event["id"], event), {}, defer_render=True
                )
                for key in applied.touched_feeds:
                    rendering.render_and_save(rt, key)
                costs.append(time.perf_counter() - t0)
            before = r.info("memory")["used_memory"]
            out["sizes"][size] = {
                "bytes_per_article": per_article,
                "event_cost_ms": statistics.median(costs) * 1000,
                "feeds_touched": len(applied.touched_feeds),
            }
        return out
    finally:
        server.stop()
