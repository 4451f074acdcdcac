"""The status page a night editor reads: `/` (the service at a glance) and
`/status/articles/{id}` (one article's story: received, applied, rendered, pinged, shared).

Server-rendered HTML with no script, escaped throughout (article titles come from the CMS), laid
out for a phone first. The same figures as `syndicate status` (worker.ops.overview).
"""

from __future__ import annotations

import time
from html import escape
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse

from feeds.article import parse_time
from api.auth import operator_only, security_headers, style_hash
from worker.ops import overview
from worker.runtime import Runtime

STYLE = """
body{font:16px/1.45 system-ui,sans-serif;margin:0;padding:.75rem;color:#1d1d1f;background:#fafafa}
main{max-width:60rem;margin:0 auto}h1{font-size:1.3rem;margin:.2rem 0 .8rem}
h2{font-size:1.05rem;margin:1.2rem 0 .4rem}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(9rem,1fr));gap:.5rem}
.card{background:#fff;border:1px solid #ddd;border-radius:8px;padding:.5rem .7rem}
.card b{display:block;font-size:1.3rem}.ok{color:#11772d}.bad{color:#b3261e}.off{color:#777}
table{width:100%;border-collapse:collapse;background:#fff;font-size:.92rem}
td,th{text-align:left;padding:.35rem .4rem;border-bottom:1px solid #eee;vertical-align:top}
th{font-weight:600;color:#555}.wrap{overflow-x:auto}a{color:#0b57d0}
small{color:#666}
"""


STYLE_HASH = style_hash(STYLE)


def _when(epoch: float | str | None) -> str:
    try:
        value = float(epoch or 0)
    except ValueError:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(value)) if value else ""


def _page(title: str, body: str, refresh: bool = False) -> HTMLResponse:
    meta = '<meta http-equiv="refresh" content="15">' if refresh else ""
    html = (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">{meta}'
            f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
            f"<body><main>{body}</main></body></html>")
    return HTMLResponse(html, headers=security_headers(STYLE_HASH))


def _article_link(article_id: str) -> str:
    return (f'<a href="/status/articles/{quote(article_id, safe="")}">'
            f"{escape(article_id)}</a>")


def _overview_html(data: dict[str, Any], site_title: str) -> str:
    workers = data["workers"]
    waiting = sum(n for n in data["queues"].values() if n is not None)
    cards = [
        ("workers", len(workers), "ok" if workers else "bad"),
        ("waiting tasks", waiting, "ok" if waiting < 1000 else "bad"),
        ("articles", data["articles"], "ok"),
        ("feeds", data["feeds"], "ok"),
        ("feeds to render", data["feeds_to_render"], "ok" if data["feeds_to_render"] < 50 else "bad"),
        ("dead letters", len(data["dead_letters"]), "bad" if data["dead_letters"] else "ok"),
    ]
    out = [f"<h1>{escape(site_title)}: syndication status</h1>", '<div class="cards">']
    out += [f'<div class="card {cls}" data-card="{escape(name)}"><b>{value}</b>{escape(name)}</div>'
            for name, value, cls in cards]
    out.append("</div>")
    out.append('<h2>Channels</h2><div class="wrap"><table id="channels"><tr><th>network</th>'
               "<th>state</th><th>deliveries</th><th>last failure</th></tr>")
    for ch in data["channels"]:
        state = ('<span class="ok">on</span>' if ch["enabled"] else '<span class="off">off</span>')
        counts = ", ".join(f"{escape(k)} {v}" for k, v in sorted(ch["deliveries"].items()))
        if ch["open"]:
            counts += f"{', ' if counts else ''}{ch['open']} in progress"
        failure = ch["last_failure"]
        fail = (f'{_article_link(failure["article_id"])}: {escape(failure["error"])}'
                if failure else "")
        out.append(f"<tr><td>{escape(ch['network'])}</td><td>{state}</td>"
                   f"<td>{counts or '<small>none yet</small>'}</td><td>{fail}</td></tr>")
    out.append("</table></div>")
    out.append('<h2>Failed (out of retries)</h2>')
    if data["dead_letters"]:
        out.append('<div class="wrap"><table id="dead"><tr><th>what</th><th>article</th>'
                   "<th>reason</th><th>when</th></tr>")
        for d in data["dead_letters"]:
            out.append(f"<tr><td>{escape(d['name'])}</td><td>{_article_link(d['article_id'])}</td>"
                       f"<td>{escape(d['error'])}</td><td>{_when(d['failed_at'])}</td></tr>")
        out.append("</table></div><p><small>Retry them with <code>syndicate replay</code>."
                   "</small></p>")
    else:
        out.append("<p><small>Nothing failed.</small></p>")
    out.append('<h2>Recent events</h2><div class="wrap"><table id="events"><tr><th>UTC</th>'
               "<th>type</th><th>article</th><th>status</th></tr>")
    for ev in data["events"]:
        status = escape(ev["status"])
        detail = escape(ev["outcome"] or ev["error"])
        cls = "bad" if ev["status"] == "failed" else "ok"
        clock = time.strftime("%H:%M:%S", time.gmtime(ev["received_at"]))
        out.append(f'<tr><td title="{_when(ev["received_at"])}">{clock}</td>'
                   f"<td>{escape(ev['type'].removeprefix('article.'))}</td>"
                   f"<td>{_article_link(ev['article_id'])}</td>"
                   f'<td class="{cls}">{status} <small>{detail}</small></td></tr>')
    out.append("</table></div>")
    queues = ", ".join(f"{escape(q)} {n if n is not None else '?'}" for q, n in data["queues"].items())
    out.append(f"<p><small>Queues: {queues}. Workers: {escape(', '.join(workers) or 'none')}. "
               f'<a href="/metrics">metrics</a> · <a href="/feeds.opml">feeds</a></small></p>')
    return "".join(out)


@operator_only(html=True)
async def home(request: Request) -> HTMLResponse:
    rt: Runtime = request.app.state.runtime
    data = await run_in_threadpool(overview, rt)
    return _page("syndicate status", _overview_html(data, rt.site.title), refresh=True)


def _timeline(rt: Runtime, article_id: str) -> tuple[dict[str, Any] | None, list[tuple[float, str]]]:
    record = rt.store.article(article_id)
    if record is None:
        return None, []
    steps: list[tuple[float, str]] = []
    timeline = record.get("timeline", [])
    events = rt.store.event_summaries([entry["event"] for entry in timeline])
    for entry in timeline:
        event = events.get(entry["event"], {})
        received = float(event.get("received_at") or 0)
        label = f"{escape(entry['type'])} <small>{escape(entry['event'])}</small>"
        if received:
            steps.append((received, f"received {label}"))
        steps.append((parse_time(entry["at"]).timestamp(), f"applied {label}"))
    for key, meta in rt.store.feed_status(record.get("feeds", [])).items():
        if meta["rendered_at"]:
            steps.append((float(meta["rendered_at"]),
                          f'feed <a href="/feeds/{escape(key)}.atom">{escape(key)}</a> rendered '
                          f"<small>({escape(meta['items'])} items)</small>"))
        if meta["pinged_at"]:
            steps.append((float(meta["pinged_at"]), f"hubs pinged for {escape(key)}"))
    for network, entry in rt.store.outbox_entries(article_id).items():
        state = entry.get("state", "")
        text = f"{escape(network)}: {escape(state)}"
        if entry.get("remote_id"):
            text += f" <small>remote id {escape(entry['remote_id'])}</small>"
        if entry.get("last_error"):
            text += f' <span class="bad">{escape(entry["last_error"])}</span>'
        elif entry.get("reason"):
            text += f" <small>{escape(entry['reason'])}</small>"
        at = entry.get("deleted_at") or entry.get("sent_at") or entry.get("last_attempt_at") \
            or entry.get("created_at") or 0
        steps.append((float(at), text))
    return record, sorted(steps, key=lambda s: s[0])


@operator_only(html=True)
async def article_page(request: Request) -> HTMLResponse:
    rt: Runtime = request.app.state.runtime
    article_id = request.path_params["article_id"]
    record, steps = await run_in_threadpool(_timeline, rt, article_id)
    if record is None:
        page = _page("no such article", f"<h1>No article {escape(article_id)}</h1>"
                     '<p><a href="/">back</a></p>')
        page.status_code = 404
        return page
    title = record.get("title") or (record.get("doc") or {}).get("title") or article_id
    url = record.get("url") or (record.get("doc") or {}).get("url")
    link = f'<a href="{escape(url)}">{escape(title)}</a>' if url else escape(title)
    rows = "".join(f"<tr><td>{_when(at)}</td><td>{text}</td></tr>" for at, text in steps)
    body = (f'<p><a href="/">← status</a></p><h1>{link}</h1>'
            f"<p>{escape(article_id)} · {escape(record.get('state', ''))}"
            f" · version {escape(str(record.get('version') or '-'))}</p>"
            f'<h2>Timeline</h2><div class="wrap"><table id="timeline">'
            f"<tr><th>when</th><th>what</th></tr>{rows}</table></div>")
    return _page(title, body)
