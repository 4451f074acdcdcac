"""`python -m bench`: start syndicate on an embedded Redis (the API and `--workers` worker
processes, concurrency 1 each), drive signed events at it, and print the figures of issue #15,
each beside its goal and beside the reference measured in the same run.

Nothing here is asserted; it prints. Phases:
  1. ceiling   Celery no-op tasks drained by a worker of the same shape on the same Redis
               (bench/noop.py): what Celery itself costs per task.
  2. steps     a steady 50, 200 and 500 events/s for S seconds each (open loop): accepted/s,
               intake p50/p99, publish-to-visible p50/p99 (from the 202 to the item being in the
               served bytes of `all` and of its tag feed), how many are visible within 30 s,
               and the backlog each second.
  3. burst     N events as fast as 16 connections send them: accepted/s, and events accepted and
               visible per s (first send to the last render), over the no-op ceiling.
  4. scaling   a backlog of M queued events drained by 1, 2 and 3 `syndicate worker` processes,
               the API and Redis fixed.
  5. serving   GET /feeds/all.rss, 200 and 304: the API; nginx through deploy/nginx.conf over the
               static export (SYNDICATE_EXPORT_DIR); plain nginx on the same bytes; and the
               render-on-request baseline (bench/baseline.py). Needs nginx for its two rows.
  6. storage   Redis memory per article, and one event's cost at two archive sizes.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
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
        self._proc = multiprocessing.Process(target=_watch, daemon=True, args=(
            svc.url, ids, self.tag_feed, self._stop, self._out))
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
            if None not in times.values():
                out["both"].append(max(0.0, max(times.values()) - at))  # type: ignore[type-var]
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
            accepted_at[i] = time.monotonic()
            latencies.append(accepted_at[i] - t0)
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
    return {"rate": rate, "offered_per_s": count / offered_s, "events": count,
            "accepted": len(accepted_times), "refused": refused,
            "accepted_per_s": len(accepted_times) / accept_s,
            "intake_p50_ms": pct(latencies, 50) * 1000, "intake_p99_ms": pct(latencies, 99) * 1000,
            **{f"visible_{k}_p{p}_ms": pct(v, p) * 1000 for k, v in visible.items() for p in (50, 99)},
            **{f"visible_{k}_within": n for k, n in within.items()},
            "backlog": watcher.backlog}


# Phase 3: burst ---------------------------------------------------------------------------------
def burst(svc: Service, count: int, first_n: int) -> dict:
    events = [article_event(first_n + n) for n in range(count)]
    renders_before = svc.renders()
    started = time.monotonic()
    latencies, accepted = post_all(svc, events, threads=16)
    intake_s = max(accepted) - started
    wait_until(svc.settled, 600, "the burst to be applied and rendered")
    end_to_end_s = time.monotonic() - started
    return {"events": count, "accepted_per_s": count / intake_s,
            "intake_p50_ms": pct(latencies, 50) * 1000, "intake_p99_ms": pct(latencies, 99) * 1000,
            "end_to_end_per_s": count / end_to_end_s,
            "renders_per_event": (svc.renders() - renders_before) / count}


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
    api_body = requests.get(svc.base + path, timeout=5,
                            headers={"Accept-Encoding": "identity"}).content

    def pair(base: str) -> tuple[float, float, bool]:
        # The load asks for no encoding, so the ETag to send back is the identity one's.
        answer = requests.get(base + path, timeout=5, headers={"Accept-Encoding": "identity"})
        same = answer.content == api_body
        ok = srv.requests_per_s(base + path, {}, seconds)
        not_modified = srv.requests_per_s(base + path, {"If-None-Match": answer.headers["etag"]},
                                          seconds)
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
    baseline = subprocess.Popen([sys.executable, "-m", "bench.baseline", "--port", str(port)],
                                env=svc.env, cwd=ROOT, preexec_fn=die_with_parent,
                                stdout=svc.logs, stderr=svc.logs)
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
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "bench.noop", "worker",
                               "--loglevel=WARNING", f"--concurrency={concurrency}", "-Q", QUEUE,
                               "--without-gossip", "--without-mingle"],
                              env=svc.env, cwd=ROOT, preexec_fn=die_with_parent,
                              stdout=svc.logs, stderr=svc.logs)
    try:
        wait_until(lambda: r.llen(QUEUE) < count, 60, "the no-op worker to start")
        first = time.monotonic()
        wait_until(lambda: r.llen(QUEUE) == 0 and r.hlen("unacked") == 0, 600,
                   "the no-op queue to drain")
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
        rt = Runtime(Settings(redis_url=url, feed_size=50))
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
                applied = rt.store.articles.apply(ArticleEvent.from_payload(event["id"], event), {},
                                                  defer_render=True)
                for key in applied.touched_feeds:
                    rendering.render_and_save(rt, key)
                costs.append(time.perf_counter() - t0)
            before = r.info("memory")["used_memory"]
            out["sizes"][size] = {"bytes_per_article": per_article,
                                  "event_cost_ms": statistics.median(costs) * 1000,
                                  "feeds_touched": len(applied.touched_feeds)}
        return out
    finally:
        server.stop()


# Report -----------------------------------------------------------------------------------------
def _ms(value: float) -> str:
    return "  n/a" if value != value else (f"{value:5.0f}" if value >= 10 else f"{value:5.1f}")


def print_step(s: dict) -> None:
    print(f"\nsteady {s['rate']:.0f} events/s for {s['events'] / s['rate']:.0f} s "
          f"(offered {s['offered_per_s']:.0f}/s, {s['events']} events)", flush=True)
    print(f"  accepted              {s['accepted']:6d}   ({s['accepted_per_s']:.0f}/s; "
          f"{s['refused']} refused)")
    print(f"  intake latency        p50 {_ms(s['intake_p50_ms'])} ms   p99 {_ms(s['intake_p99_ms'])} ms")
    for kind, label in (("all", "in `all`"), ("tag", "in its tag feed"), ("both", "in both")):
        print(f"  visible {label:<15} p50 {_ms(s[f'visible_{kind}_p50_ms'])} ms   "
              f"p99 {_ms(s[f'visible_{kind}_p99_ms'])} ms")
    print(f"  visible within {VISIBLE_WITHIN_S:.0f} s    {s['visible_tag_within']} of {s['accepted']} in "
          f"their tag feed, {s['visible_all_within']} in `all` (a 50-item feed: at high rates "
          "items leave it before a render shows them)")
    series = " ".join(f"{u}/{d}" for u, d in s["backlog"][:40])
    print(f"  backlog each second   {series or '(drained within a second)'}"
          "   (events not yet applied / feeds waiting for a render)")


def table(steps: dict, b: dict, c: dict, v: dict, scale: dict) -> None:
    """The issue's rows, each beside its goal (a phase not run leaves its rows out)."""
    def row(figure: str, now: str, goal: str, met: bool | None) -> None:
        verdict = "" if met is None else ("met" if met else "MISSED")
        print(f"  {figure:<44} {now:<50} {goal:<26} {verdict}")

    print("\nissue #15 figures (each against its reference from this run)")
    row("figure", "now", "goal", None)
    for rate, goal in ((50, 200), (200, 500)):
        s = steps.get(rate)
        if s:
            row(f"publish->visible at a steady {rate} events/s",
                f"p50 {s['visible_both_p50_ms']:.0f} ms, p99 {s['visible_both_p99_ms']:.0f} ms"
                " (in `all` and its tag feed)", f"p99 <= {goal} ms",
                s["visible_both_p99_ms"] <= goal)
    s = steps.get(500)
    if s:
        row("at 500 events/s offered",
            f"{s['accepted']} of {s['events']} accepted ({s['accepted_per_s']:.0f}/s), "
            f"intake p50 {s['intake_p50_ms']:.0f} ms", "all accepted",
            s["accepted"] == s["events"])
        row("", f"{s['visible_tag_within']} visible in their tag feed within "
                f"{VISIBLE_WITHIN_S:.0f} s, {s['visible_all_within']} in `all`",
            "all visible", s["visible_tag_within"] == s["events"])
    if b and c:
        ratio = b["end_to_end_per_s"] / c["drain_per_s"]
        row("accepted and visible per s / Celery no-op",
            f"{ratio:.2f} ({b['end_to_end_per_s']:.0f} events/s / {c['drain_per_s']:.0f} tasks/s)",
            ">= 0.5", ratio >= 0.5)
    if v:
        api, render = v["api"], v["render"]
        if "nginx" in v:
            nginx, export = v["nginx"], v["export"]
            for i, name in ((0, "full feed GET"), (1, "304")):
                row(f"{name} / nginx on the same bytes",
                    f"API {api[i] / nginx[i]:.2f}, static export {export[i] / nginx[i]:.2f}",
                    ">= 0.9 with static export", export[i] / nginx[i] >= 0.9)
        else:
            row("full feed GET and 304 / nginx", "not measured: nginx is not installed",
                ">= 0.9 with static export", None)
        row("full feed GET / render-on-request", f"{api[0] / render[0]:.0f}x", ">= 20x",
            api[0] / render[0] >= 20)
    if scale:
        counts = sorted(scale)
        cores = os.cpu_count() or 1
        rising = all(scale[x] < scale[y] for x, y in zip(counts, counts[1:cores]))
        row(f"scaling {'/'.join(map(str, counts))} worker processes",
            " / ".join(f"{scale[k]:.0f}" for k in counts) + " events/s",
            f"rising up to {cores} (cores)", rising)


_T0 = time.monotonic()


def _phase(name: str) -> None:
    print(f"  [{time.monotonic() - _T0:5.1f} s] {name}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2,
                        help="worker processes (concurrency 1 each) for every phase but scaling")
    parser.add_argument("--api-processes", type=int, default=1,
                        help="`syndicate api --processes N` (a lever: intake on more cores)")
    parser.add_argument("--rates", default="50,200,500", help="events/s of the steady steps")
    parser.add_argument("--seconds", type=float, default=10, help="length of each step")
    parser.add_argument("--burst", type=int, default=3000, help="events in the burst phase")
    parser.add_argument("--scale-events", type=int, default=1500,
                        help="backlog drained by 1, 2 and 3 workers")
    parser.add_argument("--serve-seconds", type=float, default=5)
    parser.add_argument("--noop", type=int, default=5000, help="tasks for the Celery ceiling")
    parser.add_argument("--sizes", default="1000,100000",
                        help="archive sizes for the flat-cost run (100,000 takes ~4 min to load)")
    parser.add_argument("--set", action="append", default=[], metavar="SYNDICATE_X=VALUE",
                        help="a setting for the service under test (to measure a lever)")
    parser.add_argument("--only", default="ceiling,steps,burst,serving,scaling,storage",
                        help="the phases to run (comma-separated)")
    parser.add_argument("--quick", action="store_true", help="small numbers, under a minute")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.burst, args.scale_events, args.serve_seconds, args.noop, args.sizes = (
            1, 200, 100, 1, 200, "100,200")
    workdir = Path(tempfile.mkdtemp(prefix="syndicate-bench-"))
    os.chmod(workdir, 0o755)  # nginx's workers read the export below it
    print(f"syndicate bench: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
          f"{args.workers} worker processes, {args.api_processes} API process(es), "
          f"settings {args.set or 'default'}, logs in {workdir}", flush=True)
    settings = dict(item.split("=", 1) for item in args.set)
    if any(not k.startswith("SYNDICATE_") for k in settings):
        parser.error("--set takes SYNDICATE_NAME=VALUE")
    svc = Service(workdir, args.workers, args.api_processes, **settings)
    only = set(args.only.split(","))
    c: dict = {}
    steps: dict = {}
    b: dict = {}
    v: dict = {}
    scale: dict = {}
    try:
        if "ceiling" in only:
            _phase("ceiling")
            c = ceiling(svc, args.noop, args.workers)
            print(f"\nCelery no-op ceiling ({c['tasks']} tasks, same Redis, concurrency "
                  f"{args.workers})", flush=True)
            print(f"  publish               {c['publish_per_s']:8.0f} tasks/s")
            print(f"  drain                 {c['drain_per_s']:8.0f} tasks/s")
        if "steps" in only:
            _phase("steps")
            for k, rate in enumerate(float(r) for r in args.rates.split(",")):
                steps[int(rate)] = s = step(svc, rate, args.seconds,
                                            first_n=1_000_000 + k * 100_000)
                print_step(s)
                wait_until(svc.settled, 900, "the backlog to drain")
        if "burst" in only:
            _phase("burst")
            b = burst(svc, args.burst, first_n=1_500_000)
            print(f"\nburst of {b['events']} events (16 connections)", flush=True)
            print(f"  accepted              {b['accepted_per_s']:8.0f} events/s   (goal >= 500)")
            print(f"  intake latency        p50 {_ms(b['intake_p50_ms'])} ms   "
                  f"p99 {_ms(b['intake_p99_ms'])} ms")
            print(f"  accepted and visible  {b['end_to_end_per_s']:8.0f} events/s "
                  "(first send to last render)")
            print(f"  renders per event     {b['renders_per_event']:8.3f}   "
                  "(each event touches ~7 feeds)")
        if "serving" in only:
            _phase("serving")
            v = serving(svc, workdir, args.serve_seconds)
            print(f"\nserving GET /feeds/all.rss (50 items; {srv.client_name()})", flush=True)
            names = {"api": "syndicate API", "export": "nginx, deploy/nginx.conf over the export",
                     "nginx": "plain nginx, same bytes", "render": "render per request (baseline)"}
            for key, (ok, nm, same) in v.items():
                print(f"  {names[key]:<42} 200 {ok:8.0f} req/s   304 "
                      f"{'     n/a' if nm != nm else f'{nm:8.0f}'} req/s   same bytes: {same}")
            if not srv.NGINX:
                print("  (nginx is not installed: `apt-get install nginx` for the static rows)")
        peaks = svc.peaks()
        if "scaling" in only:
            _phase("scaling")
            scale = scaling(svc, args.scale_events, first_n=1_600_000)
            print(f"\nscaling: {args.scale_events} queued events drained by k worker processes "
                  "(API and Redis fixed)", flush=True)
            for k, per_s in scale.items():
                print(f"  {k} worker{'s' if k > 1 else ' '}             {per_s:8.0f} events/s   "
                      f"({per_s / scale[1]:.2f}x one worker)")
    finally:
        svc.close()
    print("\npeak memory (VmHWM)")
    for name, mb in peaks.items():
        print(f"  {name:<21} {mb:8.1f} MB")
    if "storage" in only:
        sizes = [int(x) for x in args.sizes.split(",")]
        _phase("storage")
        st = storage(workdir, sizes)
        print("\nstorage and flat cost (one new event applied and its feeds rendered, median of 20)")
        for size, row in st["sizes"].items():
            print(f"  {size:>7} articles      {row['bytes_per_article']:8.0f} B/article in Redis   "
                  f"event cost {row['event_cost_ms']:6.1f} ms ({row['feeds_touched']} feeds)")
        first, last = sizes[0], sizes[-1]
        print(f"  event cost at {last} / at {first} articles "
              f"{st['sizes'][last]['event_cost_ms'] / st['sizes'][first]['event_cost_ms']:6.2f}"
              "   (flat: ~1)")
    table(steps, b, c, v, scale)
    shutil.rmtree(workdir / "export", ignore_errors=True)


if __name__ == "__main__":
    main()
