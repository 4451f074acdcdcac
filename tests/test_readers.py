"""Real reader libraries against the real `syndicate api`: lemon24/reader subscribes, updates
twice, and the second update is answered 304 (it sent back our ETag)."""

from __future__ import annotations

import re

import requests
from reader import make_reader

from tests.support import OPERATOR, api_process, publish


def _served(base: str, status: str) -> float:
    text = requests.get(base + "/metrics", timeout=5, headers=OPERATOR).text
    m = re.search(rf'^syndicate_feed_requests_total\{{status="{status}"\}} (\S+)$', text, re.MULTILINE)
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
