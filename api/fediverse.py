"""Every feed a fediverse account (CONTRACT §7), the HTTP side: WebFinger, NodeInfo, the actors,
their outboxes and follower counts, the articles' objects, and the inboxes. 404 for all of it
unless SYNDICATE_ACTIVITYPUB=on.

The documents are built by feeds/activitypub.py; an inbox POST is read bounded in bytes and time
here and verified and applied by worker/apinbox.py off the event loop: 202 once verified and
applied, 401 when the signature is missing or does not verify, 400 for a malformed body, 413
past 1 MiB; a refused request stores nothing.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

import redis
from kombu.exceptions import OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from api.intake import BodyTooLarge, read_limited
from feeds import activitypub as ap
from feeds.describe import describe
from feeds.item import item_of
from feeds.membership import ALL
from syndicate import __version__
from worker import apinbox, fediverse
from worker.runtime import Runtime

AP_TYPE = "application/activity+json; charset=utf-8"
JRD_TYPE = "application/jrd+json; charset=utf-8"
PER_FEED_PAGE = 20  # articles read to name a feed's subject (as the feed page does)


def _json(doc: Any, media_type: str = AP_TYPE, status: int = 200, cache: bool = True) -> Response:
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Vary": "Accept",
        "Cache-Control": "public, max-age=60" if cache else "no-store",
        "Access-Control-Allow-Origin": "*",
    }
    return Response(
        json.dumps(doc, separators=(",", ":")),
        status_code=status,
        media_type=media_type,
        headers=headers,
    )


def _error(status: int, reason: str) -> Response:
    return _json({"error": reason}, "application/json", status, cache=False)


def _rt(request: Request) -> Runtime | None:
    rt: Runtime = request.app.state.runtime
    return rt if rt.settings.activitypub else None


def wants_html(request: Request) -> bool:
    """A browser (HTML before any JSON in Accept) rather than a fediverse server."""
    accept = request.headers.get("accept", "").lower()
    html = accept.find("text/html")
    if html < 0:
        return False
    jsons = [
        i
        for i in (accept.find("application/activity+json"), accept.find("application/ld+json"))
        if i >= 0
    ]
    return not jsons or html < min(jsons)


def _feed_of(rt: Runtime, user: str) -> str | None:
    key = ap.feed_key_of(user)
    return key if key is not None and fediverse.feed_exists(rt, key) else None


async def webfinger(request: Request) -> Response:
    rt = _rt(request)
    if rt is None:
        return _error(404, "no fediverse accounts here (SYNDICATE_ACTIVITYPUB is off)")
    resource = request.query_params.get("resource", "")
    if not resource or len(resource) > 1024:
        return _error(400, "resource: an acct: URI or an actor URL is required")
    url = rt.site.public_url
    user = ""
    if resource.startswith("acct:"):
        name, _, host = resource[5:].lstrip("@").rpartition("@")
        user = name if host.lower() == ap.host_of(url) else ""
    elif resource.startswith(url.rstrip("/") + "/ap/actors/"):
        user = unquote(resource.rsplit("/", 1)[1])
    key = await run_in_threadpool(_feed_of, rt, user) if user else None
    if key is None:
        return _error(404, "no such account")
    return _json(ap.webfinger(url, key), JRD_TYPE)


async def nodeinfo_links(request: Request) -> Response:
    rt = _rt(request)
    if rt is None:
        return _error(404, "no fediverse accounts here (SYNDICATE_ACTIVITYPUB is off)")
    return _json(ap.nodeinfo_links(rt.site.public_url), "application/json")


def _counts(rt: Runtime) -> tuple[int, int]:
    return rt.store.articles.feed_count(), rt.store.articles.count()


async def nodeinfo(request: Request) -> Response:
    rt = _rt(request)
    if rt is None:
        return _error(404, "no fediverse accounts here (SYNDICATE_ACTIVITYPUB is off)")
    feeds, articles = await run_in_threadpool(_counts, rt)
    return _json(ap.nodeinfo(__version__, feeds, articles, rt.site.title), ap.NODEINFO_PROFILE)


def _actor(rt: Runtime, user: str) -> dict[str, Any] | None:
    key = _feed_of(rt, user)
    if key is None:
        return None
    _total, shown = rt.store.articles.page_of(key, 0, PER_FEED_PAGE)
    icon = rt.settings.activitypub_icon or (rt.site.podcast.image if key == "audio" else None)
    return ap.actor(
        rt.site.public_url, describe(key, rt.site, shown), fediverse.public_key(rt, key), icon
    )


async def actor(request: Request) -> Response:
    rt = _rt(request)
    if rt is None:
        return _error(404, "no fediverse accounts here (SYNDICATE_ACTIVITYPUB is off)")
    user = request.path_params["user"]
    try:
        doc = await run_in_threadpool(_actor, rt, user)
    except redis.RedisError:
        return _error(503, "store unavailable: try again later")
    if doc is None:
        return _error(404, "no such account")
    if wants_html(request):
        return RedirectResponse(doc["url"], status_code=303)
    return _json(doc)


def _outbox(rt: Runtime, user: str) -> dict[str, Any] | None:
    key = _feed_of(rt, user)
    if key is None:
        return None
    url = rt.site.public_url
    total, shown = rt.store.articles.page_of(key, 0, min(rt.settings.feed_size, 100))
    items = []
    for article in shown:
        obj = ap.article_object(url, article.id, item_of(article, rt.site.url))
        activity = ap.create(url, obj) if key == ALL else ap.announce(url, key, obj)
        activity.pop("@context")
        items.append(activity)
    return ap.collection(ap.actor_id(url, key) + "/outbox", len(items), items)


def _followers(rt: Runtime, user: str) -> dict[str, Any] | None:
    key = _feed_of(rt, user)
    if key is None:
        return None
    return ap.collection(
        ap.actor_id(rt.site.public_url, key) + "/followers",
        rt.store.fediverse.follower_count(ap.username(key)),
    )


async def outbox(request: Request) -> Response:
    return await _collection(request, _outbox)


async def followers(request: Request) -> Response:
    return await _collection(request, _followers)


async def _collection(request: Request, build: Any) -> Response:
    rt = _rt(request)
    if rt is None:
        return _error(404, "no fediverse accounts here (SYNDICATE_ACTIVITYPUB is off)")
    try:
        doc = await run_in_threadpool(build, rt, request.path_params["user"])
    except redis.RedisError:
        return _error(503, "store unavailable: try again later")
    return _error(404, "no such account") if doc is None else _json(doc)


def _object(rt: Runtime, article_id: str) -> tuple[int, dict[str, Any]]:
    article = rt.store.articles.article(article_id)
    url = rt.site.public_url
    if article is not None:
        obj = ap.article_object(url, article_id, item_of(article, rt.site.url))
        return 200, {"@context": ap.CONTEXT, **obj}
    if rt.store.articles.state(article_id) is not None:  # known, no longer published
        return 410, ap.tombstone(url, article_id)
    return 404, {"error": "no such object"}


async def article_object(request: Request) -> Response:
    rt = _rt(request)
    if rt is None:
        return _error(404, "no fediverse accounts here (SYNDICATE_ACTIVITYPUB is off)")
    article_id = request.path_params["article_id"]
    if len(article_id) > 1024:
        return _error(404, "no such object")
    try:
        status, doc = await run_in_threadpool(_object, rt, article_id)
    except redis.RedisError:
        return _error(503, "store unavailable: try again later")
    if status == 200 and wants_html(request):
        return RedirectResponse(doc["url"], status_code=303)
    return _json(doc, status=status, cache=status != 404)


async def inbox(request: Request) -> Response:
    """`POST /ap/actors/{user}/inbox` and `POST /ap/inbox` (the shared inbox)."""
    rt = _rt(request)
    if rt is None:
        return _error(404, "no fediverse accounts here (SYNDICATE_ACTIVITYPUB is off)")
    user = request.path_params.get("user")
    try:
        body = await read_limited(request, fediverse.BODY_MAX_BYTES, rt.settings.body_timeout)
    except BodyTooLarge:
        return _error(413, f"the body is longer than {fediverse.BODY_MAX_BYTES} bytes")
    except TimeoutError:
        return _error(408, "the body took too long to arrive")
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string") or b""
    path = raw_path.decode("latin-1") + (f"?{query.decode('latin-1')}" if query else "")
    headers = {k.lower(): v for k, v in request.headers.items()}
    try:
        status, reason = await run_in_threadpool(
            apinbox.receive, rt, user, "POST", path, headers, body
        )
    except (redis.RedisError, OperationalError):
        return _error(503, "store or broker unavailable: try again later")
    if status == 202:
        return Response(status_code=202, headers={"Cache-Control": "no-store"})
    return _error(status, reason)
