"""The harness of tests/test_wordpress.py: a WordPress copied from Debian's package with its own
wp-config.php and throwaway database (driven by drive.php and db.php beside this file), and a
loopback proxy between it and the service that records what WordPress sent and can lose
answers."""

from __future__ import annotations

import json
import secrets
import shutil
import socket
import subprocess
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import feedparser
import requests

from tests.fakes import FakeServers
from tests.support import OPERATOR, ROOT, Run, wait_for

PLUGIN = ROOT / "integrations" / "wordpress" / "syndicate"
HELPERS = ROOT / "tests" / "wordpress"
WORDPRESS = Path("/usr/share/wordpress")  # Debian's `wordpress` package
PHP = shutil.which("php")
INSTALL_HINT = ".ci/run installs php-cli php-mysql php-curl wordpress"


def php_modules() -> str:
    return subprocess.run([PHP or "php", "-m"], capture_output=True, text=True).stdout.lower()


def missing() -> str | None:
    """Why the WordPress tests cannot run here, or None."""
    if PHP is None:
        return f"php-cli is not installed ({INSTALL_HINT})"
    if not (WORDPRESS / "wp-settings.php").exists():
        return f"Debian's wordpress package is not installed ({INSTALL_HINT})"
    if "mysqli" not in php_modules():
        return f"php-mysql is not installed ({INSTALL_HINT})"
    try:
        socket.create_connection(("127.0.0.1", 3306), timeout=1).close()
    except OSError:
        return "no MariaDB on 127.0.0.1:3306 for the throwaway WordPress database"
    return None


class Proxy:
    """Between WordPress and the service: forwards every request, records each event WordPress
    sent and what it was answered. Told to, it answers 503 without forwarding ("503") or
    forwards and then answers 503 (the answer "lost": the service has the event)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.faults: list[str] = []
        self.events: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in ("host", "content-length", "connection")
                }
                fault = None
                if self.command == "POST":
                    with proxy.lock:
                        fault = proxy.faults.pop(0) if proxy.faults else None
                upstream = None
                if fault != "503":
                    answer = requests.request(
                        self.command,
                        proxy.upstream + self.path,
                        data=body,
                        headers=headers,
                        timeout=10,
                        allow_redirects=False,
                    )
                    upstream = answer.status_code
                status, data = (
                    (503, b'{"title": "unavailable"}')
                    if fault
                    else (answer.status_code, answer.content)
                )
                if self.command == "POST":
                    event = json.loads(body)
                    with proxy.lock:
                        proxy.events.append(
                            {
                                "webhook_id": self.headers.get("webhook-id"),
                                "type": event["type"],
                                "article_id": event["article"]["id"],
                                "status": status,
                                "upstream": upstream,
                                "body": upstream and answer.json(),
                                "headers": dict(self.headers),
                            }
                        )
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def sent(self, article_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [e for e in self.events if e["article_id"] == article_id]

    def stop(self) -> None:
        self.server.shutdown()


class WordPress:
    """A WordPress copied from Debian's package into a directory of its own, with its own
    wp-config.php (no system file touched)."""

    def __init__(self, root: Path, database: str) -> None:
        self.root = root
        self.database = database

    def do(self, action: str, **args: Any) -> Any:
        proc = subprocess.run(
            [PHP or "php", str(HELPERS / "drive.php"), str(self.root), action, json.dumps(args)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        lines = [line for line in proc.stdout.splitlines() if line.startswith('{"ok"')]
        assert lines, (action, proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
        answer = json.loads(lines[-1])
        assert answer["ok"], (action, answer["error"])
        return answer["result"]

    def cron(self) -> None:
        """One run of WP-Cron, the way a system cron runs it."""
        proc = subprocess.run(
            [PHP or "php", "wp-cron.php"],
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-2000:])

    def queue(self, post_id: int) -> list[dict[str, Any]]:
        """The plugin's stored events of a post, oldest first (read from the database)."""
        proc = subprocess.run(
            [PHP or "php", str(HELPERS / "db.php"), "rows", self.database, str(post_id)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, (proc.stdout, proc.stderr)
        return json.loads(proc.stdout)

    def debug_log(self) -> str:
        log = self.root / "debug.log"
        return log.read_text() if log.exists() else ""


def database_do(action: str, name: str) -> None:
    proc = subprocess.run(
        [PHP or "php", str(HELPERS / "db.php"), action, name],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, (action, proc.stdout, proc.stderr)


def wp_config(root: Path, database: str) -> str:
    keys = "\n".join(
        f"define( '{k}', '{secrets.token_hex(32)}' );"
        for k in (
            "AUTH_KEY",
            "SECURE_AUTH_KEY",
            "LOGGED_IN_KEY",
            "NONCE_KEY",
            "AUTH_SALT",
            "SECURE_AUTH_SALT",
            "LOGGED_IN_SALT",
            "NONCE_SALT",
        )
    )
    return f"""<?php
define( 'DB_NAME', '{database}' );
define( 'DB_USER', 'root' );
define( 'DB_PASSWORD', '' );
define( 'DB_HOST', '127.0.0.1:3306' );
define( 'DB_CHARSET', 'utf8mb4' );
define( 'DB_COLLATE', '' );
{keys}
$table_prefix = 'wp_';
define( 'WP_HOME', 'http://wp.test' );
define( 'WP_SITEURL', 'http://wp.test' );
define( 'DISABLE_WP_CRON', true );         // a system cron runs wp-cron.php (the readme's advice)
define( 'WP_HTTP_BLOCK_EXTERNAL', true );  // no update checks or pings leave the machine
define( 'WP_ACCESSIBLE_HOSTS', '127.0.0.1' );
define( 'AUTOMATIC_UPDATER_DISABLED', true );
define( 'WP_DEBUG', true );
define( 'WP_DEBUG_DISPLAY', false );
define( 'WP_DEBUG_LOG', '{root}/debug.log' );
if ( empty( $_SERVER['HTTP_HOST'] ) ) {{
	$_SERVER['HTTP_HOST'] = 'wp.test';
}}
if ( ! defined( 'ABSPATH' ) ) {{
	define( 'ABSPATH', __DIR__ . '/' );
}}
require_once ABSPATH . 'wp-settings.php';
"""


@dataclass
class Stack:
    run: Run
    fakes: FakeServers
    proxy: Proxy
    wp: WordPress
    admin: int

    def article(self, article_id: str) -> dict[str, Any] | None:
        r = requests.get(f"{self.run.base}/articles/{article_id}", headers=OPERATOR, timeout=5)
        return r.json() if r.status_code == 200 else None

    def deliver(self, post_id: int) -> dict[str, Any]:
        """Run WP-Cron; the post's newest event must be sent and applied by the service."""
        self.wp.cron()
        row = [r for r in self.wp.queue(post_id) if r["state"] != "superseded"][-1]
        assert row["state"] == "sent", row
        article_id = f"wp-1-{post_id}"
        return wait_for(
            lambda: (a := self.article(article_id)) and a["version"] == int(row["version"]) and a,
            30,
            f"{article_id} at version {row['version']}",
        )

    def feed_entries(self, feed: dict[str, str], link: str) -> list[Any]:
        parsed = feedparser.parse(requests.get(feed["atom"], timeout=5).content)
        assert parsed.bozo == 0, parsed.get("bozo_exception")
        return [e for e in parsed.entries if e.link == link]
