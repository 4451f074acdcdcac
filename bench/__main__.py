"""`python -m bench`: start syndicate on an embedded Redis, drive signed events at it, and print
the figures issue #5 asks for, with the two references measured in the same run.

Nothing here is asserted; it prints. Phases:
  1. burst     N events as fast as 16 client threads can send them: accepted events/s, intake
               latency, end-to-end throughput (first accept to last event applied and rendered),
               renders per event.
  2. steady    R events/s for S seconds: intake latency and publish-to-visible latency (from the
               202 to the item being in the served bytes of `all` and of its tag feed).
  3. serving   GET /feeds/all.rss for T seconds, 200s and 304s, from 2 client processes; the
               same against the render-on-request baseline (bench/baseline.py).
  4. ceiling   Celery no-op tasks drained by a worker of the same shape (bench/noop.py).
  5. storage   Redis memory per article, and one event's cost with 1,000 and with many more
               articles stored.
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import redis
import requests
from standardwebhooks.webhooks import Webhook

from bench.events import article_event
from feeds.article import ArticleEvent
from feeds.describe import item_id
from syndicate.config import Settings
from syndicate.embedded_redis import EmbeddedRedis
from syndicate.process import background_child, die_with_parent, stop
from worker import ops, rendering
from worker.runtime import Runtime
from worker.store import keys

ROOT = Path(__file__).resolve().parent.parent


# Helpers --------------------------------------------------------------------------------------
def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def free_port() -> int:

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the most resident memory the process ever had (Linux)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: timed out waiting for {what}")
        time.sleep(0.02)


class Service:
    """syndicate's worker and API as real processes on an embedded Redis."""

    def __init__(self, workdir: Path, concurrency: int) -> None:
        self.redis_server = EmbeddedRedis(workdir / "redis")
        self.url = self.redis_server.start()
        self.secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATE_")}
        self.env.update(SYNDICATE_REDIS_URL=self.url, SYNDICATE_WEBHOOK_SECRET=self.secret,
                        SYNDICATE_PUBLIC_URL=self.base, SYNDICATE_DATA_DIR=str(workdir),
                        SYNDICATE_FEED_SIZE="50", PYTHONPATH=str(ROOT))
        self.r = redis.Redis.from_url(self.url)
        self.logs = open(workdir / "service.log", "ab")
        # As `syndicate run` does: the worker yields the CPU to intake (syndicate.process).
        self.worker = self._spawn([sys.executable, "-m", "celery", "-A", "worker", "worker",
                                   "--loglevel=WARNING", f"--concurrency={concurrency}",
                                   "--without-gossip", "--without-mingle"], background=True)
        wait_until(lambda: self.r.zcard(keys.WORKERS) > 0, 60, "the worker")
        self.api = self._spawn([sys.executable, "-m", "syndicate.cli", "api", "--port",
                                str(self.port)])
        wait_until(self._api_up, 30, "the API")

    def _spawn(self, cmd: list[str], background: bool = False) -> subprocess.Popen:
        return subprocess.Popen(cmd, env=self.env, cwd=ROOT, stdout=self.logs, stderr=self.logs,
                                preexec_fn=background_child if background else die_with_parent)

    def _api_up(self) -> bool:
        try:
            return requests.get(self.base + "/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def signed(self, event: dict) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(event).encode()
        now = datetime.now(UTC)
        return body, {"content-type": "application/json", "webhook-id": event["id"],
                      "webhook-timestamp": str(int(now.timestamp())),
                      "webhook-signature": Webhook(self.secret).sign(event["id"], now,
                                                                    body.decode())}

    def settled(self) -> bool:
        pipe = self.r.pipeline()
        pipe.zcard(keys.UNFINISHED)
        pipe.scard(keys.DIRTY)
        unfinished, dirty = pipe.execute()
        return unfinished == 0 and dirty == 0 and not any(
            self.r.scan_iter(keys.render_lock_key("*"), count=1000))

    def renders(self) -> float:
        return float(self.r.hget(keys.COUNTERS, "renders") or 0)

    def peaks(self) -> dict[str, float]:
        out = {"api": peak_rss_mb(self.api.pid), "worker (main)": peak_rss_mb(self.worker.pid)}
        for n, child in enumerate(children(self.worker.pid), 1):
            out[f"worker (child {n})"] = peak_rss_mb(child)
        assert self.redis_server.proc is not None
        out["redis-server"] = peak_rss_mb(self.redis_server.proc.pid)
        return out

    def close(self) -> None:
        stop(self.api)
        stop(self.worker)
        self.redis_server.stop()
        self.logs.close()


class Connection:
    """A minimal keep-alive HTTP/1.1 client: the bench's own CPU per request stays ~0.05 ms
    (requests spends ~1 ms), so on a 2-core machine the figures are the service's, not ours."""

    def __init__(self, base: str) -> None:

        parts = urlsplit(base)
        self.host = parts.hostname or "127.0.0.1"
        self.sock = socket.create_connection((self.host, parts.port))
        self.buf = b""

    def request(self, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> tuple[int, bytes]:
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n{head}"
                          f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        head_bytes, _, self.buf = self.buf.partition(b"\r\n\r\n")
        status = int(head_bytes[9:12])
        length = 0
        for line in head_bytes.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        while len(self.buf) < length:
            self.buf += self.sock.recv(65536)
        body_out, self.buf = self.buf[:length], self.buf[length:]
        return status, body_out

    def close(self) -> None:
        self.sock.close()


# Phase 1: burst -------------------------------------------------------------------------------
def post_all(svc: Service, events: list[dict], threads: int) -> tuple[list[float], list[float]]:
    """POST every event; returns (latencies in s, accept times as time.monotonic())."""
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


def burst(svc: Service, count: int) -> dict:
    events = [article_event(n) for n in range(count)]
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


# Phase 2: steady rate, publish-to-visible -----------------------------------------------------
def steady(svc: Service, rate: float, seconds: float, first_n: int) -> dict:
    count = int(rate * seconds)
    events = [article_event(first_n + i) for i in range(count)]
    signed = [svc.signed(e) for e in events]
    by_item = {item_id(e["article"]["id"]): i for i, e in enumerate(events)}
    tag_feed = [f"tag/{e['article']['tags'][0].lower()}" for e in events]
    accepted_at: list[float | None] = [None] * count
    seen: dict[tuple[int, str], float] = {}
    stop_watch = threading.Event()

    def watch() -> None:
        """Poll the served bytes (the stored JSON Feed the API hands out) of every feed involved."""
        r = redis.Redis.from_url(svc.url)
        feeds = sorted({"all", *tag_feed})
        etags: dict[str, bytes] = {}
        while not stop_watch.is_set():
            pipe = r.pipeline(transaction=False)
            for key in feeds:
                pipe.hget(keys.meta_key(key), "etag:json")
            for key, etag in zip(feeds, pipe.execute()):
                if etag is None or etags.get(key) == etag:
                    continue
                etags[key] = etag
                now = time.monotonic()
                body = r.get(keys.body_key(key, "json")) or b"{}"
                for item in json.loads(body).get("items", []):
                    i = by_item.get(item["id"])
                    if i is not None:
                        seen.setdefault((i, key), now)
            time.sleep(0.002)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    latencies: list[float] = []
    local = threading.local()

    def send(i: int) -> None:
        if not hasattr(local, "c"):
            local.c = Connection(svc.base)
        body, headers = signed[i]
        t0 = time.monotonic()
        status, _ = local.c.request("POST", "/events", headers, body)
        accepted_at[i] = time.monotonic()
        latencies.append(accepted_at[i] - t0)
        if status != 202:
            raise SystemExit(f"bench: event refused: {status}")

    start = time.monotonic()
    with ThreadPoolExecutor(32) as pool:
        for i in range(count):  # open loop: events leave on schedule whatever the answers do
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pool.submit(send, i)
    sent_s = time.monotonic() - start
    wait_until(svc.settled, 300, "the steady phase to be applied and rendered")
    time.sleep(0.3)
    stop_watch.set()
    watcher.join()
    visible = {"all": [], "tag": []}
    for i, at in enumerate(accepted_at):
        for kind, key in (("all", "all"), ("tag", tag_feed[i])):
            when = seen.get((i, key))
            if at is not None and when is not None:
                visible[kind].append(max(0.0, when - at))
    missing = 2 * count - len(visible["all"]) - len(visible["tag"])
    return {"rate": rate, "achieved_rate": count / sent_s, "events": count,
            "intake_p50_ms": pct(latencies, 50) * 1000, "intake_p99_ms": pct(latencies, 99) * 1000,
            "visible_all_p50_ms": pct(visible["all"], 50) * 1000,
            "visible_all_p99_ms": pct(visible["all"], 99) * 1000,
            "visible_tag_p50_ms": pct(visible["tag"], 50) * 1000,
            "visible_tag_p99_ms": pct(visible["tag"], 99) * 1000,
            "missing": missing}


# Phase 3: serving -----------------------------------------------------------------------------
def _get_loop(base: str, path: str, headers: dict, deadline: float) -> int:
    conn = Connection(base)
    done = 0
    while time.monotonic() < deadline:
        status, _ = conn.request("GET", path, headers)
        done += status in (200, 304)
    conn.close()
    return done


def _load_process(url: str, headers: dict, seconds: float, threads: int, out) -> None:

    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}"
    deadline = time.monotonic() + seconds
    with ThreadPoolExecutor(threads) as pool:
        counts = pool.map(lambda _: _get_loop(base, parts.path, headers, deadline), range(threads))
        out.put(sum(counts))


def requests_per_s(url: str, headers: dict, seconds: float, processes: int = 2,
                   threads: int = 4) -> float:
    """Closed-loop load from `processes` client processes with `threads` keep-alive clients each."""
    queue: multiprocessing.Queue = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=_load_process, args=(url, headers, seconds, threads,
                                                                  queue)) for _ in range(processes)]
    for p in procs:
        p.start()
    total = sum(queue.get() for _ in procs)
    for p in procs:
        p.join()
    return total / seconds


def serving(svc: Service, seconds: float) -> dict:
    url = svc.base + "/feeds/all.rss"
    identity = {"Accept-Encoding": "identity"}
    etag = requests.get(url, headers=identity, timeout=5).headers["etag"]
    ok = requests_per_s(url, identity, seconds)
    not_modified = requests_per_s(url, {**identity, "If-None-Match": etag}, seconds)
    port = free_port()
    baseline = subprocess.Popen([sys.executable, "-m", "bench.baseline", "--port", str(port)],
                                env=svc.env, cwd=ROOT, preexec_fn=die_with_parent,
                                stdout=svc.logs, stderr=svc.logs)
    try:
        base_url = f"http://127.0.0.1:{port}/feeds/all.rss"

        def up() -> bool:
            try:
                return requests.get(base_url, timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_until(up, 30, "the baseline server")
        same = requests.get(base_url, timeout=5).content == requests.get(
            url, headers=identity, timeout=5).content
        rendered = requests_per_s(base_url, identity, seconds)
    finally:
        stop(baseline)
    return {"get_200_per_s": ok, "get_304_per_s": not_modified,
            "baseline_render_per_request_per_s": rendered, "baseline_same_bytes": same}


# Phase 4: the Celery no-op ceiling -----------------------------------------------------------
def ceiling(svc: Service, count: int, concurrency: int) -> dict:
    # bench.noop defines a second Celery app; importing it only in this phase keeps the others
    # free of it.
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


# Phase 5: storage and flat cost ---------------------------------------------------------------
def storage(workdir: Path, sizes: list[int]) -> dict:
    """On a Redis of its own: memory per article, and one event's cost at each archive size."""

    server = EmbeddedRedis(workdir / "storage-redis")
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
                event = article_event(50_000_000 + size * 100 + k)
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


# Report ---------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--burst", type=int, default=3000, help="events in the burst phase")
    parser.add_argument("--rate", type=float, default=200, help="events/s in the steady phase")
    parser.add_argument("--seconds", type=float, default=15, help="length of the steady phase")
    parser.add_argument("--low-rate", type=float, default=40,
                        help="events/s of a second steady phase, below the worker's capacity")
    parser.add_argument("--serve-seconds", type=float, default=5)
    parser.add_argument("--noop", type=int, default=5000, help="tasks for the Celery ceiling")
    parser.add_argument("--sizes", default="1000,100000",
                        help="archive sizes for the flat-cost run (100,000 takes ~4 min to load)")
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes")
    parser.add_argument("--quick", action="store_true", help="small numbers, for a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.burst, args.seconds, args.serve_seconds, args.noop, args.sizes = (
            300, 3, 1, 500, "200,600")
        args.low_rate = 20
    workdir = Path(tempfile.mkdtemp(prefix="syndicate-bench-"))
    print(f"syndicate bench: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
          f"worker concurrency {args.concurrency}, logs in {workdir}", flush=True)
    svc = Service(workdir, args.concurrency)
    try:
        b = burst(svc, args.burst)
        print(f"\nburst of {b['events']} events (16 client threads)", flush=True)
        print(f"  accepted              {b['accepted_per_s']:8.0f} events/s   (goal >= 500)")
        print(f"  intake latency        p50 {b['intake_p50_ms']:6.1f} ms   p99 {b['intake_p99_ms']:6.1f} ms")
        print(f"  end to end            {b['end_to_end_per_s']:8.0f} events/s applied and rendered")
        print(f"  renders per event     {b['renders_per_event']:8.3f}   (each event touches ~7 feeds)")
        steady_runs = [steady(svc, args.rate, args.seconds, first_n=10_000_000)]
        wait_until(svc.settled, 900, "the backlog to drain")
        steady_runs.append(steady(svc, args.low_rate, args.seconds, first_n=20_000_000))
        for s in steady_runs:
            print(f"\nsteady {s['rate']:.0f} events/s for {args.seconds:.0f} s "
                  f"(achieved {s['achieved_rate']:.0f}/s, {s['events']} events)", flush=True)
            print(f"  intake latency        p50 {s['intake_p50_ms']:6.1f} ms   p99 {s['intake_p99_ms']:6.1f} ms")
            print(f"  visible in `all`      p50 {s['visible_all_p50_ms']:6.1f} ms   p99 {s['visible_all_p99_ms']:6.1f} ms"
                  + ("   (goal p99 <= 500)" if s is steady_runs[0] else ""))
            print(f"  visible in its tag    p50 {s['visible_tag_p50_ms']:6.1f} ms   p99 {s['visible_tag_p99_ms']:6.1f} ms")
            if s["missing"]:
                print(f"  ({s['missing']} appearances never seen: items pushed out of a 50-item "
                      "feed by newer ones before any render showed them, when rendering lags)")
        v = serving(svc, args.serve_seconds)
        print("\nserving GET /feeds/all.rss (50 items; 2 client processes x 4 keep-alive connections)", flush=True)
        print(f"  200                   {v['get_200_per_s']:8.0f} req/s")
        print(f"  304                   {v['get_304_per_s']:8.0f} req/s")
        print(f"  render per request    {v['baseline_render_per_request_per_s']:8.0f} req/s   "
              f"(bench/baseline.py; same bytes: {v['baseline_same_bytes']})")
        peaks = svc.peaks()
        c = ceiling(svc, args.noop, args.concurrency)
        print(f"\nCelery no-op ceiling ({c['tasks']} tasks, same Redis, concurrency {args.concurrency})", flush=True)
        print(f"  publish               {c['publish_per_s']:8.0f} tasks/s")
        print(f"  drain                 {c['drain_per_s']:8.0f} tasks/s")
    finally:
        svc.close()
    print("\npeak memory (VmHWM)")
    for name, mb in peaks.items():
        print(f"  {name:<21} {mb:8.1f} MB")
    sizes = [int(x) for x in args.sizes.split(",")]
    st = storage(workdir, sizes)
    print("\nstorage and flat cost (one new event applied and its feeds rendered, median of 20)")
    for size, row in st["sizes"].items():
        print(f"  {size:>7} articles      {row['bytes_per_article']:8.0f} B/article in Redis   "
              f"event cost {row['event_cost_ms']:6.1f} ms ({row['feeds_touched']} feeds)")
    print("\nratios")
    print(f"  end-to-end / Celery no-op ceiling     {b['end_to_end_per_s'] / c['drain_per_s']:6.2f}   (goal >= 0.5)")
    print(f"  serving 200 / render per request      {v['get_200_per_s'] / v['baseline_render_per_request_per_s']:6.1f}   (goal >= 20)")
    print(f"  serving 304 / render per request      {v['get_304_per_s'] / v['baseline_render_per_request_per_s']:6.1f}")
    first, last = sizes[0], sizes[-1]
    print(f"  event cost at {last} / at {first} articles "
          f"{st['sizes'][last]['event_cost_ms'] / st['sizes'][first]['event_cost_ms']:6.2f}   (flat: ~1)")


if __name__ == "__main__":
    main()
