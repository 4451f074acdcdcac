"""Static export through the real `syndicate run`: every changed render also lands in
SYNDICATE_EXPORT_DIR, with a `.gz` beside it, byte for byte what the API serves, written
atomically; an update rewrites it and a retraction takes the article out."""

from __future__ import annotations

import gzip

import feedparser
import requests

from tests.support import FIXTURES, Run, load_fixture, wait_for


def test_renders_are_exported_atomically_with_their_gzip(tmp_path):
    export = tmp_path / "export"
    run = Run(tmp_path, {"SYNDICATE_EXPORT_DIR": str(export)})
    try:
        run.wait_up()
        assert run.cli("send", str(FIXTURES / "seed-article-published.json")).returncode == 0
        title = load_fixture("seed-article-published")["article"]["title"]
        target = export / "feeds" / "tag" / "nato.atom"
        wait_for(lambda: target.exists() and title.encode() in target.read_bytes(), 30,
                 "the exported feed")
        for fmt in ("rss", "atom", "json"):
            path = export / "feeds" / "tag" / f"nato.{fmt}"
            served = requests.get(f"{run.base}/feeds/tag/nato.{fmt}",
                                  headers={"Accept-Encoding": "identity"}, timeout=5).content
            assert path.read_bytes() == served, fmt
            assert gzip.decompress((path.parent / f"nato.{fmt}.gz").read_bytes()) == served
        assert not [p for p in (export / "feeds").rglob(".*")]  # no temporary file left
        assert run.cli("send", str(FIXTURES / "seed-article-updated.json")).returncode == 0
        new_title = load_fixture("seed-article-updated")["article"]["title"]
        wait_for(lambda: new_title.encode() in target.read_bytes(), 30, "the rewrite")
        assert run.cli("send", str(FIXTURES / "seed-article-unpublished.json")).returncode == 0
        wait_for(lambda: feedparser.parse(target.read_bytes()).entries == [], 30,
                 "the retraction in the exported feed")
    finally:
        run.stop()
