"""HTML for people: Jinja2 templates (api/templates/), autoescaped, with one stylesheet inlined
and allowed by hash in the Content-Security-Policy (api.headers)."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.responses import HTMLResponse

from api.headers import security_headers, style_hash

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
td{overflow-wrap:break-word}.hint{display:block;color:#444;margin-top:.2rem}
button{white-space:nowrap}
@media (max-width:600px){#dead tr:first-child{display:none}#dead tr,#dead td{display:block}
#dead td{border:0;padding:.15rem .4rem}#dead tr{border-bottom:1px solid #ddd;padding:.4rem 0}}
.note{background:#fff7d6;border:1px solid #e6c200;border-radius:8px;padding:.5rem .7rem}
form.retry{display:inline}nav a{margin-right:.6rem;display:inline-block}
main>p small,nav{overflow-wrap:anywhere}
small{color:#666}input{font:inherit;width:100%;box-sizing:border-box;padding:.5rem;
margin:.3rem 0 .8rem}button{font:inherit;padding:.5rem 1rem}
.items{list-style:none;padding:0}.items li{background:#fff;border:1px solid #ddd;
border-radius:8px;padding:.6rem .8rem;margin:.5rem 0;overflow:hidden}
.items img{max-width:100%;height:auto;display:block;margin-bottom:.4rem}
.items h3{margin:.1rem 0;font-size:1.05rem}
.feedurl{background:#fff;border:1px solid #ddd;border-radius:8px;padding:.5rem .7rem;margin:.4rem 0}
.urlrow{display:flex;gap:.5rem;align-items:center;flex-wrap:wrap}
.urlrow code{flex:1 1 14rem;min-width:0;overflow-wrap:anywhere;word-break:break-all;
background:#f3f3f3;border-radius:4px;padding:.35rem .45rem;font-size:.9rem}
figure{margin:0 0 .4rem}figcaption{font-size:.88rem;color:#444;margin-top:.2rem}
audio{width:100%;margin:.3rem 0}tr.group th{background:#f3f3f3;color:#1d1d1f;padding-top:.6rem}
"""
HEADERS = security_headers(style_hash(STYLE))


def _when(epoch: float | str | None) -> str:
    try:
        value = float(epoch or 0)
    except ValueError:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(value)) if value else ""


def _clock(epoch: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(epoch))


def _iso(epoch: float | str | None) -> str:
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(epoch or 0)))
    except ValueError:
        return ""


def _ago(epoch: float | str | None) -> str:
    """How long ago, in words an editor reads at a glance."""
    try:
        seconds = max(time.time() - float(epoch or 0), 0)
    except ValueError:
        return ""
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return "just now"


TEMPLATES = Environment(
    loader=PackageLoader("api", "templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
TEMPLATES.filters.update(
    when=_when,
    clock=_clock,
    iso=_iso,
    ago=_ago,
    urlencode_all=lambda value: quote(str(value), safe=""),
)


def render_page(template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    html = TEMPLATES.get_template(template).render(style=STYLE, **context)
    return HTMLResponse(html, status_code=status_code, headers=HEADERS)
