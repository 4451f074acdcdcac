#!/usr/bin/env python3
"""Contract smoke test: start `syndicate run`, send the seed article signed, read its feeds.

Usage: python3 tests/smoke.py [--syndicate PATH] [--timeout SECONDS]

Uses the standard library only, so it runs with any Python 3.11. It starts the service on a free
loopback port with a fresh data directory, posts tests/fixtures/events/seed-article-published.json
signed per Standard Webhooks, then checks that the article appears in both formats of its five
feeds, that a conditional GET answers 304, and that a bad signature gets 401. It stops the service
it started and prints one line per check, then 'N passed, M failed'.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = HERE / "fixtures" / "events" / "seed-article-published.json"
FEEDS = ["all", "section/news", "section/news/lithuania", "tag/nato", "author/news-desk"]
SECRET = "whsec_" + base64.b64encode(b"smoke-test-secret-0123456789abcd").decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sign(event_id: str, body: bytes, ts: int | None = None, secret: str = SECRET) -> dict[str, str]:
    ts = int(time.time()) if ts is None else ts
    key = base64.b64decode(secret.split("_", 1)[1])
    mac = hmac.new(key, f"{event_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    return {
        "content-type": "application/json",
        "webhook-id": event_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": "v1," + base64.b64encode(mac).decode(),
    }


def request(method: str, url: str, body: bytes | None = None, headers: dict | None = None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()
    except OSError as e:
        return 0, {}, str(e).encode()


def titles(xml: bytes) -> list[str]:
    root = ET.fromstring(xml)
    found = [t.text or "" for t in root.iter("title")]
    found += [t.text or "" for t in root.iter("{http://www.w3.org/2005/Atom}title")]
    return found


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--syndicate", default=shutil.which("syndicate") or ".venv/bin/syndicate")
    ap.add_argument("--timeout", type=float, default=60)
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # run the clean-up below on a time limit
    results: list[tuple[bool, str]] = []

    def check(ok: bool, what: str) -> None:
        results.append((bool(ok), what))
        print(("PASS " if ok else "FAIL ") + what, flush=True)

    if not Path(args.syndicate).exists() and not shutil.which(args.syndicate):
        print(f"FAIL no syndicate command at {args.syndicate}")
        print("0 passed, 1 failed")
        return 1
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    data = tempfile.mkdtemp(prefix="smoke-")
    env = dict(
        os.environ,
        SYNDICATE_DATA_DIR=data,
        SYNDICATE_WEBHOOK_SECRET=SECRET,
        SYNDICATE_PUBLIC_URL=base,
    )
    env.pop("SYNDICATE_REDIS_URL", None)
    log = open(Path(data) / "service.log", "wb")
    proc = subprocess.Popen(
        [args.syndicate, "run", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + args.timeout
    try:
        while time.monotonic() < deadline and request("GET", base + "/healthz")[0] != 200:
            if proc.poll() is not None:
                break
            time.sleep(0.3)
        up = request("GET", base + "/healthz")[0] == 200
        check(up, "service answers /healthz")
        if not up:
            raise SystemExit(finish(results, data))
        body = SEED.read_bytes()
        event = json.loads(body)
        status, _, _ = request(
            "POST",
            base + "/events",
            body,
            sign("smoke-bad", body, secret="whsec_" + base64.b64encode(b"x" * 32).decode()),
        )
        check(status == 401, f"bad signature answered 401 (got {status})")
        status, _, answer = request("POST", base + "/events", body, sign(event["id"], body))
        check(status == 202, f"signed seed event answered 202 (got {status} {answer[:120]!r})")
        title = event["article"]["title"]
        pending = {(k, fmt) for k in FEEDS for fmt in ("rss", "atom")}
        start = time.monotonic()
        while pending and time.monotonic() < start + 10:
            for key, fmt in sorted(pending):
                st, _, xml = request("GET", f"{base}/feeds/{key}.{fmt}")
                try:
                    if st == 200 and title in titles(xml):
                        pending.discard((key, fmt))
                except ET.ParseError:
                    pass
            time.sleep(0.1)
        elapsed = time.monotonic() - start
        for key, fmt in sorted((k, f) for k in FEEDS for f in ("rss", "atom")):
            check((key, fmt) not in pending, f"seed article in /feeds/{key}.{fmt}")
        check(not pending and elapsed <= 1.5, f"all ten feeds carried it after {elapsed:.2f} s")
        st, headers, _ = request("GET", f"{base}/feeds/all.atom")
        etag = {k.lower(): v for k, v in headers.items()}.get("etag")
        st2 = request("GET", f"{base}/feeds/all.atom", headers={"If-None-Match": etag or '"none"'})[
            0
        ]
        check(bool(etag) and st2 == 304, f"conditional GET answered 304 (etag {etag!r}, got {st2})")
        check(
            request("GET", f"{base}/feeds/no-such-feed.rss")[0] == 404, "unknown feed answered 404"
        )
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        log.close()
    return finish(results, data)


def finish(results: list[tuple[bool, str]], data: str) -> int:
    passed = sum(ok for ok, _ in results)
    print(f"{passed} passed, {len(results) - passed} failed")
    if passed != len(results):
        print(f"(service log: {Path(data) / 'service.log'})")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
