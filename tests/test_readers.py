"""Real readers against the real `syndicate api`: lemon24/reader subscribes, updates twice, and
the second update is answered 304 (it sent back our ETag); newsboat shows the whole article."""

from __future__ import annotations

import html
import os
import re
import shutil
import sqlite3
import subprocess

import pytest
import requests
from reader import make_reader

from tests.support import OPERATOR, api_process, publish


def _served(base: str, status: str) -> float:
    text = requests.get(base + "/metrics", timeout=5, headers=OPERATOR).text
    m = re.search(
        rf'^syndicate_feed_requests_total\{{status="{status}"\}} (\S+)$', text, re.MULTILINE
    )
    return float(m.group(1)) if m else 0.0


def test_reader_subscribes_and_gets_not_modified_on_its_second_update(service, settings, tmp_path):
    seed = publish(service, "seed-article-published")
    with api_process(settings) as base:
        feeds = [f"{base}/feeds/tag/nato.atom", f"{base}/feeds/all.rss", f"{base}/feeds/all.json"]
        reader = make_reader(str(tmp_path / "reader.sqlite"))
        try:
            for url in feeds:
                reader.add_feed(url)
            first = {r.url: r for r in reader.update_feeds_iter(scheduled=False)}
            assert all(r.error is None for r in first.values()), first
            for url in feeds:
                entries = list(reader.get_entries(feed=url))
                assert [e.link for e in entries] == [seed["article"]["url"]]
                assert entries[0].title == seed["article"]["title"]
            before, full = _served(base, "304"), _served(base, "200")
            # scheduled=False: reader would otherwise honour our Cache-Control max-age and wait.
            second = {r.url: r for r in reader.update_feeds_iter(scheduled=False)}
            assert all(r.error is None for r in second.values()), second
            assert _served(base, "304") - before == len(feeds)
            assert _served(base, "200") == full
        finally:
            reader.close()


NEWSBOAT = shutil.which("newsboat")


@pytest.mark.skipif(
    NEWSBOAT is None, reason="newsboat is not installed (Debian: apt install newsboat)"
)
def test_newsboat_shows_the_whole_article_title_image_caption_and_credit(
    service, settings, tmp_path
):
    """A terminal reader nobody here wrote: it reads the content, not Media RSS, so the lead
    image, caption and credit must be in the content for its readers to see them."""
    seed = publish(service, "seed-article-published")["article"]
    env = {**os.environ, "HOME": str(tmp_path)}
    with api_process(settings) as base:
        for fmt in ("rss", "atom"):  # one cache each: newsboat keeps one copy per guid
            urls, config, cache = (
                tmp_path / f"urls-{fmt}",
                tmp_path / "config",
                tmp_path / f"cache-{fmt}.db",
            )
            urls.write_text(f"{base}/feeds/tag/nato.{fmt}\n")
            config.write_text("")
            args = [NEWSBOAT, "-u", str(urls), "-c", str(cache), "-C", str(config)]
            run = subprocess.run(
                [*args, "-x", "reload"], capture_output=True, text=True, timeout=60, env=env
            )
            assert run.returncode == 0, run.stderr
            unread = subprocess.run(
                [*args, "-x", "print-unread"], capture_output=True, text=True, timeout=60, env=env
            )
            assert unread.stdout.startswith("1 unread article"), unread.stdout
            with sqlite3.connect(cache) as db:
                rows = db.execute("select title, author, content from rss_item").fetchall()
            assert len(rows) == 1, fmt
            title, author, content = rows[0]
            text = html.unescape(content)
            assert title == seed["title"] and author == "News Desk", fmt
            assert f'src="{seed["image"]["url"]}"' in content, fmt
            assert "<figcaption>" in content and seed["image"]["caption"] in text, fmt
            assert seed["image"]["credit"] in text, fmt
            assert seed["related"][0]["url"] in content, fmt  # related links too
