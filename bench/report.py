"""What `python -m bench` prints: each phase's figures, and the issue's rows beside their goals."""

from __future__ import annotations

import os

from bench import serving as srv
from bench.phases import VISIBLE_WITHIN_S


def _ms(value: float) -> str:
    return "  n/a" if value != value else (f"{value:5.0f}" if value >= 10 else f"{value:5.1f}")


def print_step(s: dict) -> None:
    print(
        f"\nsteady {s['rate']:.0f} events/s for {s['events'] / s['rate']:.0f} s "
        f"(offered {s['offered_per_s']:.0f}/s, {s['events']} events)",
        flush=True,
    )
    print(
        f"  accepted              {s['accepted']:6d}   ({s['accepted_per_s']:.0f}/s; "
        f"{s['refused']} refused)"
    )
    print(
        f"  intake latency        p50 {_ms(s['intake_p50_ms'])} ms   p99 {_ms(s['intake_p99_ms'])} ms"
    )
    for kind, label in (("all", "in `all`"), ("tag", "in its tag feed"), ("both", "in both")):
        print(
            f"  visible {label:<15} p50 {_ms(s[f'visible_{kind}_p50_ms'])} ms   "
            f"p99 {_ms(s[f'visible_{kind}_p99_ms'])} ms"
        )
    print(
        f"  visible within {VISIBLE_WITHIN_S:.0f} s    {s['visible_tag_within']} of {s['accepted']} in "
        f"their tag feed, {s['visible_all_within']} in `all` (a 50-item feed: at high rates "
        "items leave it before a render shows them)"
    )
    series = " ".join(f"{u}/{d}" for u, d in s["backlog"][:40])
    print(
        f"  backlog each second   {series or '(drained within a second)'}"
        "   (events not yet applied / feeds waiting for a render)"
    )


def _row(figure: str, now: str, goal: str, met: bool | None) -> None:
    verdict = "" if met is None else ("met" if met else "MISSED")
    print(f"  {figure:<44} {now:<50} {goal:<26} {verdict}")


def table(steps: dict, b: dict, c: dict, v: dict, scale: dict) -> None:
    """The issue's rows, each beside its goal (a phase not run leaves its rows out)."""
    print("\nissue #25 figures (each against its reference from this run)")
    _row("figure", "now", "goal", None)
    _steps_rows(steps)
    if b and c:
        ratio = b["end_to_end_per_s"] / c["drain_per_s"]
        _row(
            "accepted and visible per s / Celery no-op",
            f"{ratio:.2f} ({b['end_to_end_per_s']:.0f} events/s / {c['drain_per_s']:.0f} tasks/s)",
            ">= 0.5",
            ratio >= 0.5,
        )
    if v:
        _serving_rows(v)
    if scale:
        counts = sorted(scale)
        cores = os.cpu_count() or 1
        rising = all(scale[x] < scale[y] for x, y in zip(counts, counts[1:cores]))
        _row(
            f"scaling {'/'.join(map(str, counts))} worker processes",
            " / ".join(f"{scale[k]:.0f}" for k in counts) + " events/s",
            f"rising up to {cores} (cores)",
            rising,
        )


def _steps_rows(steps: dict) -> None:
    """Publish-to-visible at the steady rates, and what 500 events/s offered leaves behind."""
    for rate, goal in ((50, 200), (200, 500)):
        s = steps.get(rate)
        if s:
            _row(
                f"publish->visible at a steady {rate} events/s",
                f"p50 {s['visible_both_p50_ms']:.0f} ms, p99 {s['visible_both_p99_ms']:.0f} ms"
                " (in `all` and its tag feed)",
                f"p99 <= {goal} ms",
                s["visible_both_p99_ms"] <= goal,
            )
    s = steps.get(500)
    if s:
        _row(
            "at 500 events/s offered",
            f"{s['accepted']} of {s['events']} accepted ({s['accepted_per_s']:.0f}/s), "
            f"intake p50 {s['intake_p50_ms']:.0f} ms",
            "all accepted",
            s["accepted"] == s["events"],
        )
        _row(
            "",
            f"{s['visible_tag_within']} visible in their tag feed within "
            f"{VISIBLE_WITHIN_S:.0f} s, {s['visible_all_within']} in `all`",
            "all visible",
            s["visible_tag_within"] == s["events"],
        )


def _serving_rows(v: dict) -> None:
    """The API and the static export against plain nginx, and the API against rendering on
    request."""
    api, render = v["api"], v["render"]
    if "nginx" in v:
        nginx, export = v["nginx"], v["export"]
        _row(
            "full feed GET from the API / nginx",
            f"{api[0] / nginx[0]:.2f} ({api[0]:.0f} / {nginx[0]:.0f} req/s)",
            ">= 0.2",
            api[0] / nginx[0] >= 0.2,
        )
        for i, name in ((0, "full feed GET"), (1, "304")):
            _row(
                f"{name} / nginx on the same bytes",
                f"API {api[i] / nginx[i]:.2f}, static export {export[i] / nginx[i]:.2f}",
                ">= 0.9 with static export",
                export[i] / nginx[i] >= 0.9,
            )
    else:
        _row(
            "full feed GET and 304 / nginx",
            "not measured: nginx is not installed",
            ">= 0.9 with static export",
            None,
        )
    _row(
        "full feed GET / render-on-request",
        f"{api[0] / render[0]:.0f}x",
        ">= 20x",
        api[0] / render[0] >= 20,
    )


def print_ceiling(c: dict, workers: int) -> None:
    print(
        f"\nCelery no-op ceiling ({c['tasks']} tasks, same Redis, concurrency {workers})",
        flush=True,
    )
    print(f"  publish               {c['publish_per_s']:8.0f} tasks/s")
    print(f"  drain                 {c['drain_per_s']:8.0f} tasks/s")


def print_burst(b: dict) -> None:
    print(f"\nburst of {b['events']} events (16 connections)", flush=True)
    print(f"  accepted              {b['accepted_per_s']:8.0f} events/s   (goal >= 500)")
    print(
        f"  intake latency        p50 {_ms(b['intake_p50_ms'])} ms   "
        f"p99 {_ms(b['intake_p99_ms'])} ms"
    )
    print(
        f"  accepted and visible  {b['end_to_end_per_s']:8.0f} events/s (first send to last render)"
    )
    print(f"  renders per event     {b['renders_per_event']:8.3f}   (each event touches ~7 feeds)")
    cpu = b.get("cpu_ms_per_event", {})
    if cpu:
        print("  CPU per event by stage (from /proc, every process of the service):")
        for stage, ms in sorted(cpu.items(), key=lambda kv: -kv[1]):
            print(f"    {stage:<22}{ms:8.2f} ms")
        print(f"    {'all':<22}{sum(cpu.values()):8.2f} ms")


def print_serving(v: dict) -> None:
    print(f"\nserving GET /feeds/all.rss (50 items; {srv.client_name()})", flush=True)
    names = {
        "api": "syndicate API",
        "export": "nginx, deploy/nginx.conf over the export",
        "nginx": "plain nginx, same bytes",
        "render": "render per request (baseline)",
    }
    for key, (ok, nm, same) in v.items():
        print(
            f"  {names[key]:<42} 200 {ok:8.0f} req/s   304 "
            f"{'     n/a' if nm != nm else f'{nm:8.0f}'} req/s   same bytes: {same}"
        )
    if not srv.NGINX:
        print("  (nginx is not installed: `apt-get install nginx` for the static rows)")


def print_scaling(scale: dict, events: int) -> None:
    print(
        f"\nscaling: {events} queued events drained by k worker processes (API and Redis fixed)",
        flush=True,
    )
    for k, per_s in scale.items():
        print(
            f"  {k} worker{'s' if k > 1 else ' '}             {per_s:8.0f} events/s   "
            f"({per_s / scale[1]:.2f}x one worker)"
        )


def print_peaks(peaks: dict) -> None:
    print("\npeak memory (VmHWM)")
    for name, mb in peaks.items():
        print(f"  {name:<21} {mb:8.1f} MB")


def print_storage(st: dict, sizes: list[int]) -> None:
    print("\nstorage and flat cost (one new event applied and its feeds rendered, median of 20)")
    for size, row in st["sizes"].items():
        print(
            f"  {size:>7} articles      {row['bytes_per_article']:8.0f} B/article in Redis   "
            f"event cost {row['event_cost_ms']:6.1f} ms ({row['feeds_touched']} feeds)"
        )
    first, last = sizes[0], sizes[-1]
    print(
        f"  event cost at {last} / at {first} articles "
        f"{st['sizes'][last]['event_cost_ms'] / st['sizes'][first]['event_cost_ms']:6.2f}"
        "   (flat: ~1)"
    )


def print_fanout(f: dict) -> None:
    print(
        f"\nfediverse fan-out: {f['followers']} followers of `all` on {f['servers']} loopback "
        "servers (one shared inbox each)",
        flush=True,
    )
    for label, s in (("without followers", f["without"]), ("with followers", f["with"])):
        print(
            f"  {label:<21} publish->visible p50 {_ms(s['visible_both_p50_ms'])} ms   "
            f"p99 {_ms(s['visible_both_p99_ms'])} ms   ({s['accepted']} events at "
            f"{s['rate']:.0f}/s)"
        )
    print(
        f"  deliveries            {f['delivered']} of {f['expected']} Create activities, "
        f"{f['deliveries_per_s']:8.0f} per s (first event to last delivery)"
    )
