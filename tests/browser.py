"""Headless Chromium driven over the DevTools protocol (no driver to install): navigate,
evaluate, click, measure the layout, take screenshots. Only loopback URLs are visited."""

from __future__ import annotations

import base64
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import requests
import websocket

from syndicate.process import die_with_parent, stop
from tests.support import free_port, wait_for


class Browser:
    def __init__(self, chromium: str, profile: Path, width: int = 390, height: int = 844) -> None:
        port = free_port()
        self.proc = subprocess.Popen(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                f"--window-size={width},{height}",
                f"--remote-debugging-port={port}",
                "--remote-allow-origins=*",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )
        base = f"http://127.0.0.1:{port}"

        def page_socket() -> str | None:
            try:
                targets = requests.get(base + "/json", timeout=1).json()
            except (requests.RequestException, ValueError):
                return None
            return next(
                (t["webSocketDebuggerUrl"] for t in targets if t.get("type") == "page"), None
            )

        url = wait_for(page_socket, 30, "Chromium's DevTools")
        self.ws = websocket.create_connection(url, timeout=30, suppress_origin=True)
        self._id = 0
        self.send("Page.enable")
        self.send("Runtime.enable")
        self.set_size(width, height)

    def send(self, method: str, **params: Any) -> dict:
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self._id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def set_size(self, width: int, height: int) -> None:
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=width < 600,
        )

    def evaluate(self, expression: str) -> Any:
        result = self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        return result.get("result", {}).get("value")

    def goto(self, url: str) -> None:
        self.send("Page.navigate", url=url)
        self.settle()

    def settle(self, timeout: float = 20) -> None:
        """Wait for the document (and any navigation a click started) to finish loading."""
        time.sleep(0.3)
        wait_for(lambda: self.evaluate("document.readyState") == "complete", timeout, "the page")

    def text(self, selector: str) -> str:
        return self.evaluate(
            f"(document.querySelector({json.dumps(selector)}) || {{}}).innerText || ''"
        )

    def click(self, selector: str) -> None:
        self.evaluate(f"document.querySelector({json.dumps(selector)}).click()")
        self.settle()

    def overflowing(self) -> list[str]:
        """Elements that stick out of the viewport sideways (cut off on a phone), by tag#id."""
        return self.evaluate("""(() => { const w = document.documentElement.clientWidth;
          return [...document.querySelectorAll('body *')].filter(e => {
            const r = e.getBoundingClientRect(); let p = e.parentElement, scrolled = false;
            while (p) { if (getComputedStyle(p).overflowX === 'auto') scrolled = true; p = p.parentElement; }
            return !scrolled && r.width > 0 && r.right > w + 1; })
          .map(e => e.tagName + (e.id ? '#' + e.id : '')); })()""")

    def screenshot(self, path: Path) -> None:
        path.write_bytes(
            base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"])
        )

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            stop(self.proc)
