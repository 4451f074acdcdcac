"""The render-on-request reference: what Django's syndication framework and WordPress do.

Each GET reads the feed's newest articles from the store and renders them with the same writer
(feeds.render), so the only difference from syndicate's serving path is *when* rendering happens.
Run as `python -m bench.baseline --port N` with the service's environment.
"""

from __future__ import annotations

import argparse

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from feeds.describe import describe
from feeds.render import render_whole
from syndicate.config import Settings
from worker.runtime import Runtime

MEDIA = {"rss": "application/rss+xml; charset=utf-8", "atom": "application/atom+xml; charset=utf-8"}


def create_app(rt: Runtime) -> Starlette:
    def rendered(key: str, fmt: str) -> bytes:
        _, articles, deleted, _ = rt.store.articles.for_render(
            key, rt.settings.feed_size, rt.settings.deleted_entry_days * 86400
        )
        return render_whole(describe(key, rt.site, articles), articles, deleted).bodies()[fmt]

    async def feed(request: Request) -> Response:
        key, _, fmt = request.path_params["feed"].rpartition(".")
        body = await run_in_threadpool(rendered, key, fmt)
        return Response(body, media_type=MEDIA[fmt])

    return Starlette(routes=[Route("/feeds/{feed:path}", feed)])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = create_app(Runtime(Settings.from_env()))
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
