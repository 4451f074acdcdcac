"""The pages a night editor reads: `/` (the service at a glance) and `/status/articles/{id}`
(one article's story: received, applied, rendered, pinged, shared).

Jinja2 templates in api/templates/, autoescaped (article titles come from the CMS), no script,
laid out for a phone first, with the security headers of api.auth. The figures are
`syndicate status`'s (worker.ops.overview).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse

from api.auth import operator_only
from api.html import render_page
from feeds.article import parse_time
from worker.ops import overview
from worker.runtime import Runtime


@operator_only(html=True)
async def home(request: Request) -> HTMLResponse:
    rt: Runtime = request.app.state.runtime
    data = await run_in_threadpool(overview, rt)
    waiting = sum(n for n in data["queues"].values() if n is not None)
    cards = [
        ("workers", len(data["workers"]), "ok" if data["workers"] else "bad"),
        ("waiting tasks", waiting, "ok" if waiting < 1000 else "bad"),
        ("articles", data["articles"], "ok"),
        ("feeds", data["feeds"], "ok"),
        ("feeds to render", data["feeds_to_render"], "ok" if data["feeds_to_render"] < 50 else "bad"),
        ("dead letters", len(data["dead_letters"]), "bad" if data["dead_letters"] else "ok"),
    ]
    return render_page("status.html", title="syndicate status", refresh=15, site_title=rt.site.title,
                  cards=cards, **data)


@dataclass(frozen=True)
class Step:
    """One line of an article's timeline: lead, an optional link, after, a note, an error."""

    lead: str
    href: str = ""
    label: str = ""
    after: str = ""
    note: str = ""
    error: str = ""


def _timeline(rt: Runtime, article_id: str) -> tuple[dict[str, Any] | None, list[tuple[float, Step]]]:
    record = rt.store.articles.get(article_id)
    if record is None:
        return None, []
    steps: list[tuple[float, Step]] = []
    timeline = record.get("timeline", [])
    events = rt.store.events.summaries([entry["event"] for entry in timeline])
    for entry in timeline:
        received = float(events.get(entry["event"], {}).get("received_at") or 0)
        if received:
            steps.append((received, Step(f"received {entry['type']}", note=entry["event"])))
        steps.append((parse_time(entry["at"]).timestamp(),
                      Step(f"applied {entry['type']}", note=entry["event"])))
    for key, meta in rt.store.feeds.status(record.get("feeds", [])).items():
        if meta["rendered_at"]:
            steps.append((float(meta["rendered_at"]),
                          Step("feed ", href=f"/feeds/{key}", label=key, after=" rendered",
                               note=f"({meta['items']} items)")))
        if meta["pinged_at"]:
            steps.append((float(meta["pinged_at"]), Step(f"hubs pinged for {key}")))
    for network, entry in rt.store.outbox.entries(article_id).items():
        at = entry.get("deleted_at") or entry.get("sent_at") or entry.get("last_attempt_at") \
            or entry.get("created_at") or 0
        remote = f"remote id {entry['remote_id']}" if entry.get("remote_id") else ""
        steps.append((float(at), Step(f"{network}: {entry.get('state', '')}",
                                      note=remote or ("" if entry.get("last_error")
                                                      else entry.get("reason", "")),
                                      error=entry.get("last_error", ""))))
    return record, sorted(steps, key=lambda s: s[0])


@operator_only(html=True)
async def article_page(request: Request) -> HTMLResponse:
    rt: Runtime = request.app.state.runtime
    article_id = request.path_params["article_id"]
    record, steps = await run_in_threadpool(_timeline, rt, article_id)
    if record is None:
        return render_page("article.html", status_code=404, title="no such article", record=None,
                      article_id=article_id)
    doc = record.get("doc") or {}
    title = record.get("title") or doc.get("title") or article_id
    return render_page("article.html", title=title, record=record, article_id=article_id,
                  url=record.get("url") or doc.get("url"), steps=steps)
