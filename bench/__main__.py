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
  7. fanout    the fediverse: publish-to-visible at 20 events/s without followers and with
               `--followers` followers of `all` on `--servers` loopback servers, and deliveries
               per second to their shared inboxes (bench/fanout.py).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench import fanout, phases, report
from bench.service import Service, wait_until

_T0 = time.monotonic()


def _phase(name: str) -> None:
    print(f"  [{time.monotonic() - _T0:5.1f} s] {name}", file=sys.stderr, flush=True)


# `--quick`: small numbers, under a minute.
_QUICK = dict(
    seconds=1,
    burst=200,
    scale_events=100,
    serve_seconds=1,
    noop=200,
    sizes="100,200",
    followers=200,
    servers=20,
)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _service_options(parser)
    _phase_options(parser)
    args = parser.parse_args()
    if args.quick:
        vars(args).update(_QUICK)
    if any(not item.split("=", 1)[0].startswith("SYNDICATE_") for item in args.set):
        parser.error("--set takes SYNDICATE_NAME=VALUE")
    return args


def _service_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("the service under test")
    group.add_argument(
        "--workers",
        type=int,
        default=2,
        help="worker processes (concurrency 1 each) for every phase but scaling",
    )
    group.add_argument(
        "--api-processes",
        type=int,
        default=1,
        help="`syndicate api --processes N` (a lever: intake on more cores)",
    )
    group.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SYNDICATE_X=VALUE",
        help="a setting for the service under test (to measure a lever)",
    )


def _phase_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("the phases: which run, and how long or how many")
    group.add_argument(
        "--only",
        default="ceiling,steps,burst,serving,scaling,storage,fanout",
        help="the phases to run (comma-separated)",
    )
    group.add_argument("--quick", action="store_true", help="small numbers, under a minute")
    group.add_argument("--rates", default="50,200,500", help="events/s of the steady steps")
    group.add_argument("--seconds", type=float, default=10, help="length of each step")
    group.add_argument("--burst", type=int, default=3000, help="events in the burst phase")
    group.add_argument(
        "--scale-events", type=int, default=1500, help="backlog drained by 1, 2 and 3 workers"
    )
    group.add_argument(
        "--serve-seconds", type=float, default=5, help="length of each serving measurement"
    )
    group.add_argument("--noop", type=int, default=5000, help="tasks for the Celery ceiling")
    group.add_argument(
        "--sizes",
        default="1000,100000",
        help="archive sizes for the flat-cost run (100,000 takes ~4 min to load)",
    )
    group.add_argument(
        "--followers",
        type=int,
        default=5000,
        help="fediverse followers of `all` in the fan-out phase",
    )
    group.add_argument(
        "--servers",
        type=int,
        default=500,
        help="loopback fediverse servers (shared inboxes) they are spread over",
    )


def _service_phases(
    svc: Service, args: argparse.Namespace, workdir: Path, only: set[str]
) -> tuple[dict, dict, dict, dict, dict, dict]:
    """The phases that drive the running service: (ceiling, steps, burst, serving, scaling),
    and the processes' peak memory before scaling."""
    c: dict = {}
    steps: dict = {}
    b: dict = {}
    v: dict = {}
    scale: dict = {}
    if "ceiling" in only:
        _phase("ceiling")
        c = phases.ceiling(svc, args.noop, args.workers)
        report.print_ceiling(c, args.workers)
    if "steps" in only:
        _phase("steps")
        for k, rate in enumerate(float(r) for r in args.rates.split(",")):
            steps[int(rate)] = s = phases.step(
                svc, rate, args.seconds, first_n=1_000_000 + k * 100_000
            )
            report.print_step(s)
            wait_until(svc.settled, 900, "the backlog to drain")
    if "burst" in only:
        _phase("burst")
        b = phases.burst(svc, args.burst, first_n=1_500_000)
        report.print_burst(b)
    if "serving" in only:
        _phase("serving")
        v = phases.serving(svc, workdir, args.serve_seconds)
        report.print_serving(v)
    peaks = svc.peaks()  # before scaling starts workers of its own
    if "scaling" in only:
        _phase("scaling")
        scale = phases.scaling(svc, args.scale_events, first_n=1_600_000)
        report.print_scaling(scale, args.scale_events)
    return c, steps, b, v, scale, peaks


def main() -> None:
    args = _arguments()
    workdir = Path(tempfile.mkdtemp(prefix="syndicate-bench-"))
    os.chmod(workdir, 0o755)  # nginx's workers read the export below it
    print(
        f"syndicate bench: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
        f"{args.workers} worker processes, {args.api_processes} API process(es), "
        f"settings {args.set or 'default'}, logs in {workdir}",
        flush=True,
    )
    settings = dict(item.split("=", 1) for item in args.set)
    svc = Service(workdir, args.workers, args.api_processes, **settings)
    only = set(args.only.split(","))
    try:
        c, steps, b, v, scale, peaks = _service_phases(svc, args, workdir, only)
    finally:
        svc.close()
    report.print_peaks(peaks)
    if "storage" in only:
        sizes = [int(x) for x in args.sizes.split(",")]
        _phase("storage")
        report.print_storage(phases.storage(workdir, sizes), sizes)
    if "fanout" in only:
        _phase("fanout")
        report.print_fanout(
            fanout.fanout(
                workdir,
                args.workers,
                args.followers,
                args.servers,
                rate=20,
                seconds=max(args.seconds, 2),
            )
        )
    report.table(steps, b, c, v, scale)
    shutil.rmtree(workdir / "export", ignore_errors=True)


if __name__ == "__main__":
    main()
