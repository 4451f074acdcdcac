"""The Starlette application: routes only; each handler lives in the module named for it."""

from __future__ import annotations

from cachetools import LRUCache
from standardwebhooks.webhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api import auth, intake, page, serving, status
from api.metrics import Metrics
from api.openapi import OPENAPI
from syndicate.config import Settings
from worker.runtime import Runtime, configure


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
        routes=[
            Route("/", page.home, methods=["GET"]),
            Route("/login", auth.login_form, methods=["GET"]),
            Route("/login", auth.login, methods=["POST"]),
            Route("/logout", auth.logout, methods=["POST", "GET"]),
            Route("/login.js", auth.login_script, methods=["GET"]),
            Route("/status/articles/{article_id:path}", page.article_page, methods=["GET"]),
            Route("/events", intake.post_event, methods=["POST"]),
            Route("/events/{event_id:path}", status.get_event, methods=["GET"]),
            Route("/articles/{article_id:path}/share-links", status.share_links, methods=["GET"]),
            Route("/articles/{article_id:path}", status.get_article, methods=["GET"]),
            Route("/feeds.opml", serving.opml, methods=["GET"]),
            Route("/feeds/style.xsl", serving.stylesheet, methods=["GET"]),
            Route("/feeds/{feed:path}", serving.serve_feed, methods=["GET", "HEAD"]),
            Route("/healthz", status.healthz, methods=["GET"]),
            Route("/readyz", status.readyz, methods=["GET"]),
            Route("/metrics", status.metrics_endpoint, methods=["GET"]),
            Route("/openapi.json", openapi, methods=["GET"]),
        ]
    )
    app.state.runtime = rt
    app.state.webhook = Webhook(secret)
    app.state.auth = auth.OperatorAuth(admin_token)
    app.state.metrics = Metrics()
    app.state.body_cache = serving.BodyCache()
    app.state.empty_feeds = LRUCache(maxsize=300)  # (key, format) -> bytes of a feed with no items
    return app
