"""The Starlette application: routes only; each handler lives in the module named for it."""

from __future__ import annotations

import logging
import time
from typing import Any

from cachetools import LRUCache
from standardwebhooks.webhooks import Webhook
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api import auth, catalogue, feedpage, ghost, hub, intake, page, serving, sitemaps, status
from api import fediverse as ap
from api.metrics import Metrics
from api.openapi import OPENAPI
from syndicate.config import Settings
from worker.runtime import Runtime, configure
from worker.store.sessions import Sessions

access_log = logging.getLogger("syndicate.access")


class AccessLog:
    """One line per request on the `syndicate.access` logger (JSON with `--log-json`):
    method, path, status, duration and client. Pure ASGI, so the feed path pays one log call."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def record(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            ms = (time.perf_counter() - started) * 1000
            client = (scope.get("client") or ("", 0))[0]
            path = scope.get("path", "")
            access_log.info(
                "%s %s %s %.1f ms %s",
                scope.get("method"),
                path,
                status or 500,
                ms,
                client,
                extra={
                    "method": scope.get("method"),
                    "path": path,
                    "status": status or 500,
                    "duration_ms": round(ms, 2),
                    "client": client,
                },
            )


@auth.operator_only()
async def openapi(request: Request) -> Response:
    return JSONResponse(OPENAPI)


def create_app(settings: Settings, rt: Runtime | None = None) -> Starlette:
    """Build the API for `settings`; refuses to build without a webhook secret and an
    operator token."""
    secret = settings.require_secret()
    admin_token = settings.require_admin_token()
    rt = rt or configure(settings)
    app = Starlette(
        middleware=[
            *([Middleware(AccessLog)] if settings.access_log else []),
            Middleware(auth.SessionCheck),
        ],
        routes=[
            Route("/", page.home, methods=["GET"]),
            Route("/login", auth.login_form, methods=["GET"]),
            Route("/login", auth.login, methods=["POST"]),
            Route("/logout", auth.logout, methods=["POST"]),
            Route("/login.js", auth.login_script, methods=["GET"]),
            Route("/status/articles/{article_id:path}", page.article_page, methods=["GET"]),
            Route("/status/retry", page.retry, methods=["POST"]),
            Route("/local-time.js", page.local_time_script, methods=["GET"]),
            Route("/copy.js", feedpage.copy_script, methods=["GET"]),
            Route("/events", intake.post_event, methods=["POST"]),
            Route("/hub", hub.post_hub, methods=["POST"]),
            Route("/integrations/ghost", ghost.post_ghost, methods=["POST"]),
            Route("/events/{event_id:path}", status.get_event, methods=["GET"]),
            Route("/articles/{article_id:path}/share-links", status.share_links, methods=["GET"]),
            Route("/articles/{article_id:path}", status.get_article, methods=["GET"]),
            Route("/feeds.opml", catalogue.opml, methods=["GET"]),
            Route("/feeds/style.xsl", serving.stylesheet, methods=["GET"]),
            Route("/feeds/sitemap.xml", sitemaps.feed_pages, methods=["GET", "HEAD"]),
            Route("/sitemaps/news.xml", sitemaps.news, methods=["GET", "HEAD"]),
            Route("/feeds/{feed:path}", serving.serve_feed, methods=["GET", "HEAD"]),
            Route("/.well-known/webfinger", ap.webfinger, methods=["GET"]),
            Route("/.well-known/nodeinfo", ap.nodeinfo_links, methods=["GET"]),
            Route("/nodeinfo/2.1", ap.nodeinfo, methods=["GET"]),
            Route("/ap/inbox", ap.inbox, methods=["POST"]),
            Route("/ap/actors/{user}", ap.actor, methods=["GET"]),
            Route("/ap/actors/{user}/inbox", ap.inbox, methods=["POST"]),
            Route("/ap/actors/{user}/outbox", ap.outbox, methods=["GET"]),
            Route("/ap/actors/{user}/followers", ap.followers, methods=["GET"]),
            Route("/ap/objects/{article_id:path}", ap.article_object, methods=["GET"]),
            Route("/healthz", status.healthz, methods=["GET"]),
            Route("/readyz", status.readyz, methods=["GET"]),
            Route("/metrics", status.metrics_endpoint, methods=["GET"]),
            Route("/openapi.json", openapi, methods=["GET"]),
        ],
    )
    app.state.runtime = rt
    app.state.webhook = Webhook(secret)
    app.state.auth = auth.OperatorAuth(admin_token)
    app.state.metrics = Metrics()
    app.state.sessions = Sessions(rt.redis)
    app.state.body_cache = serving.BodyCache(settings.body_cache_mb * 2**20)
    # (key, format) -> bytes of a feed with no items, bounded in bytes like the body cache
    app.state.empty_feeds = LRUCache(maxsize=serving.EMPTY_FEEDS_BYTES, getsizeof=len)
    app.state.catalogue = catalogue.Catalogue(rt)
    return app
