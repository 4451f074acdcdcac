"""The pages a night editor reads: `/` (the service at a glance) and `/status/articles/{id}`
(one article's story: received, applied, rendered, pinged, shared).

Jinja2 templates in api/templates/, autoescaped (article titles come from the CMS), no script
but our own file, laid out for a phone first, with the security headers of api.headers. The
figures are `syndicate status`'s (worker.ops.overview) and the night desk's (worker.desk: the
24-hour chart, the quiet warning, search `?q=`, feeds' renders, operators' actions); states in
plain words (api.words).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from api.auth import FORM_LIMIT, operator_only
from api.html import render_page
from api.intake import BodyTooLarge, read_limited
from api.words import say
from feeds.article import parse_time
from worker.desk import desk
from worker.ops import overview, replay
from worker.runtime import Runtime
from worker.social import NETWORKS


@operator_only(html=True)
async def home(request: Request) -> HTMLResponse:
    """The overview; `?show=failed` keeps only what failed, `?network=NAME` one network."""
    rt: Runtime = request.app.state.runtime
    data = await run_in_threadpool(overview, rt)
    query = request.query_params.get("q")
    last = max((e["received_at"] for e in data["events"]), default=0.0)
    night = await run_in_threadpool(desk, rt, last, query)
    show = request.query_params.get("show", "")
    network = request.query_params.get("network", "")
    if show == "failed":
        data["events"] = [e for e in data["events"] if e["status"] == "failed"]
    if network in NETWORKS:
        data["channels"] = [c for c in data["channels"] if c["network"] == network]
        data["dead_letters"] = [d for d in data["dead_letters"] if d.get("network") == network]
    waiting = sum(n for n in data["queues"].values() if n is not None)
    cards = [
        ("workers", len(data["workers"]), "ok" if data["workers"] else "bad"),
        ("renderers", len(data["renderers"]), "ok" if data["renderers"] else "bad"),
        ("waiting tasks", waiting, "ok" if waiting < 1000 else "bad"),
        ("articles", data["articles"], "ok"),
        ("feeds", data["feeds"], "ok"),
        (
            "feeds to render",
            data["feeds_to_render"],
            "ok" if data["feeds_to_render"] < 50 else "bad",
        ),
        ("dead letters", len(data["dead_letters"]), "bad" if data["dead_letters"] else "ok"),
    ]
    return render_page(
        "status.html",
        title="syndicate status",
        refresh=30,
        local_times=True,
        site_title=rt.site.title,
        cards=cards,
        show=show,
        network=network,
        networks=NETWORKS,
        csrf=request.app.state.auth.csrf_token(),
        retried=request.query_params.get("retried", ""),
        say=say,
        **night,
        **data,
    )


@operator_only(html=True)
async def retry(request: Request) -> Response:
    """The Retry button of a dead letter: POST, operator only, with the page's CSRF token
    (and the session cookie is SameSite=Strict, so no other site can send it)."""
    rt: Runtime = request.app.state.runtime
    try:
        raw = await read_limited(request, FORM_LIMIT, rt.settings.body_timeout)
    except (BodyTooLarge, TimeoutError):
        raw = b""  # no valid token in it: refused below
    form = parse_qs(raw.decode("utf-8", "replace"))
    token = (form.get("csrf") or [""])[0]
    if not request.app.state.auth.csrf_matches(token):
        return render_page(
            "status.html",
            status_code=403,
            title="syndicate status",
            site_title=rt.site.title,
            cards=[],
            channels=[],
            dead_letters=[],
            events=[],
            queues={},
            workers=[],
            networks=NETWORKS,
            error="This form is stale or not ours: reload the page and try again.",
        )
    name = (form.get("name") or [""])[0]
    done = await run_in_threadpool(replay, rt, name)
    if done:
        await run_in_threadpool(rt.store.actions.record, "replay", name, "status page")
    return RedirectResponse(f"/?retried={quote(name if done else '')}", status_code=303)


@dataclass(frozen=True)
class Step:
    """One line of an article's timeline: lead, an optional link, after, a note, an error."""

    lead: str
    href: str = ""
    label: str = ""
    after: str = ""
    note: str = ""
    error: str = ""


def _timeline(
    rt: Runtime, article_id: str
) -> tuple[dict[str, Any] | None, list[tuple[float, Step]]]:
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
        steps.append(
            (
                parse_time(entry["at"]).timestamp(),
                Step(f"applied {entry['type']}", note=entry["event"]),
            )
        )
    # When the article went live in each feed (its first render there, not the latest one),
    # and what each hub answered for that feed.
    for key, when in rt.store.articles.first_rendered(article_id).items():
        if key in record.get("feeds", []):
            steps.append((when, Step("in feed ", href=f"/feeds/{key}", label=key)))
            for hub, answer in rt.store.feeds.hub_answers(key).items():
                steps.append(
                    (
                        float(answer["at"]),
                        Step(
                            f"hub {hub} answered {answer['answer']} for {key}",
                            error="" if answer["ok"] else "will retry",
                        ),
                    )
                )
    for network, entry in rt.store.outbox.entries(article_id).items():
        at = (
            entry.get("deleted_at")
            or entry.get("sent_at")
            or entry.get("last_attempt_at")
            or entry.get("created_at")
            or 0
        )
        remote = f"remote id {entry['remote_id']}" if entry.get("remote_id") else ""
        steps.append(
            (
                float(at),
                Step(
                    f"{network}: {entry.get('state', '')}",
                    note=remote or ("" if entry.get("last_error") else entry.get("reason", "")),
                    error=entry.get("last_error", ""),
                ),
            )
        )
    return record, sorted(steps, key=lambda s: s[0])


@operator_only(html=True)
async def article_page(request: Request) -> HTMLResponse:
    rt: Runtime = request.app.state.runtime
    article_id = request.path_params["article_id"]
    record, steps = await run_in_threadpool(_timeline, rt, article_id)
    if record is None:
        return render_page(
            "article.html",
            status_code=404,
            title="no such article",
            record=None,
            article_id=article_id,
        )
    doc = record.get("doc") or {}
    title = record.get("title") or doc.get("title") or article_id
    return render_page(
        "article.html",
        title=title,
        record=record,
        article_id=article_id,
        local_times=True,
        url=record.get("url") or doc.get("url"),
        steps=steps,
    )


# The month in words and the zone named, so no reader takes 02/12 for 12 February or a local
# time for UTC; the UTC time stays in the tooltip.
LOCAL_TIME = (
    b"// Times in the reader's own zone; the page shows UTC without this.\n"
    b"var shape = {year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit',\n"
    b"             minute: '2-digit', timeZoneName: 'short'};\n"
    b"document.querySelectorAll('time[datetime]').forEach(function (t) {\n"
    b"  var d = new Date(t.getAttribute('datetime'));\n"
    b"  if (!isNaN(d)) {\n"
    b"    t.title = t.textContent; t.textContent = d.toLocaleString(undefined, shape);\n"
    b"  }\n"
    b"});\n"
)


async def local_time_script(request: Request) -> Response:
    return Response(
        LOCAL_TIME,
        media_type="text/javascript; charset=utf-8",
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"},
    )
