"""Serving references: closed-loop GET load (wrk when installed, else the bench's own keep-alive
client in 2 processes), and nginx, both plain on the same bytes and with deploy/nginx.conf over
the static export."""

from __future__ import annotations

import multiprocessing
import os
import re
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import requests

from bench.service import ROOT, Connection, free_port, wait_until
from syndicate.process import die_with_parent, stop

WRK = shutil.which("wrk")
NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
)


def client_name() -> str:
    return (
        "wrk, 2 threads x 16 connections"
        if WRK
        else "bench client, 2 processes x 4 keep-alive connections (install wrk for more headroom)"
    )


def requests_per_s(url: str, headers: dict[str, str], seconds: float) -> float:
    """Closed-loop load on one URL; counts 200 and 304 answers only."""
    if WRK:
        cmd = [WRK, "-t2", "-c16", f"-d{max(1, round(seconds))}s", url]
        for name, value in headers.items():
            cmd += ["-H", f"{name}: {value}"]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30).stdout
        found = re.search(r"Requests/sec:\s+([\d.]+)", out)
        took = re.search(r"requests in ([\d.]+)(m?s)", out)
        if found is None or took is None:
            raise RuntimeError(f"wrk printed no figures: {out[-300:]!r}")
        total, elapsed = float(found.group(1)), float(took.group(1))
        bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        return total - (int(bad.group(1)) / elapsed if bad else 0)
    queue: multiprocessing.Queue = multiprocessing.Queue()
    procs = [
        multiprocessing.Process(target=_load_process, args=(url, headers, seconds, 4, queue))
        for _ in range(2)
    ]
    for p in procs:
        p.start()
    total = sum(queue.get() for _ in procs)
    for p in procs:
        p.join()
    return total / seconds


def _get_loop(base: str, path: str, headers: dict, deadline: float) -> int:
    conn = Connection(base)
    done = 0
    while time.monotonic() < deadline:
        try:
            status, _ = conn.request("GET", path, headers)
        except OSError:  # the server ended the keep-alive connection (nginx: 1,000 requests)
            conn.close()
            conn = Connection(base)
            continue
        done += status in (200, 304)
    conn.close()
    return done


def _load_process(url: str, headers: dict, seconds: float, threads: int, out) -> None:
    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}"
    deadline = time.monotonic() + seconds
    with ThreadPoolExecutor(threads) as pool:
        counts = pool.map(lambda _: _get_loop(base, parts.path, headers, deadline), range(threads))
        out.put(sum(counts))


class Nginx:
    """An nginx of its own on a free port. `site` is the server block: deploy/nginx.conf (the
    static export, as compose runs it) or a plain one (nginx's defaults on a folder); `api` is
    where it proxies what is not exported (none: 404)."""

    def __init__(self, workdir: Path, root: Path, site: str, api: str | None = None) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        workdir.mkdir(parents=True, exist_ok=True)
        server = re.sub(r"listen\s+[^;]+;", f"listen 127.0.0.1:{self.port};", site)
        server = re.sub(r"\n\s*root\s+[^;]+;", f"\n    root {root};", server, count=1)
        server = re.sub(
            r"proxy_pass\s+[^;]+;",  # to the given API, or none behind it
            f"proxy_pass {api};" if api else "return 404;",
            server,
        )
        user = "user root root;\n" if os.geteuid() == 0 else ""
        temp = "".join(
            f"    {name}_temp_path {workdir}/{name};\n"
            for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        (workdir / "nginx.conf").write_text(
            f"{user}daemon off;\nworker_processes 1;\npid {workdir}/nginx.pid;\n"
            f"error_log {workdir}/error.log warn;\nevents {{ worker_connections 1024; }}\n"
            f"http {{\n    access_log off;\n{temp}    include /etc/nginx/mime.types;\n"
            f"{server}\n}}\n"
        )
        self.proc: subprocess.Popen | None = None

    def start(self) -> Nginx:
        assert NGINX is not None
        self.proc = subprocess.Popen(
            [NGINX, "-c", str(self.workdir / "nginx.conf"), "-p", str(self.workdir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )
        wait_until(self._up, 15, f"nginx (see {self.workdir}/error.log)")
        return self

    def _up(self) -> bool:
        try:
            requests.get(self.url + "/", timeout=1)
            return True
        except requests.RequestException:
            return False

    def stop(self) -> None:
        stop(self.proc)


PLAIN = """server {
    listen 80;
    root /srv;
}"""


def deploy_site() -> str:
    return (ROOT / "deploy" / "nginx.conf").read_text()
