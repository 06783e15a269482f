"""A real headless Chromium (Debian's) driven over the DevTools protocol, for tests that look at
pages as a person does. Plumbing for tests: the browser is real, nothing is simulated.
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-background-networking", "--disable-component-update",
         "--no-first-run", "--disable-gpu", "--window-size=1400,1000"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Page:
    """One browser tab. ``Page.open(url)`` as a context manager starts Chromium and closes it after."""

    def __init__(self, ws, session: str):
        self._ws, self._session, self._counter = ws, session, 0

    async def call(self, method: str, params: dict | None = None, session: bool = True) -> dict:
        self._counter += 1
        msg = {"id": self._counter, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = self._session
        await self._ws.send(json.dumps(msg))
        while True:
            reply = json.loads(await self._ws.recv())
            if reply.get("id") == self._counter:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    async def js(self, expression: str):
        res = await self.call("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                                   "returnByValue": True})
        if "exceptionDetails" in res:
            raise RuntimeError(f"{expression}: {res['exceptionDetails']}")
        return res["result"].get("value")

    async def wait_for(self, expression: str, timeout_s: float = 20) -> object:
        deadline = time.monotonic() + timeout_s
        while True:
            value = await self.js(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {timeout_s} s for {expression}")
            await asyncio.sleep(0.2)

    async def goto(self, url: str) -> None:
        await self.call("Page.navigate", {"url": url})
        await self.wait_for("document.readyState === 'complete'")

    async def screenshot(self, path: Path) -> Path:
        data = (await self.call("Page.captureScreenshot", {"format": "png"}))["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path


def run_in_browser(script, timeout_s: float = 120.0):
    """Start Chromium, give ``script`` (an async function taking a Page) a fresh tab, return its result."""
    import websockets

    profile = tempfile.mkdtemp(prefix="dangan-chromium-")
    port = free_port()
    proc = subprocess.Popen(["chromium", *FLAGS, f"--user-data-dir={profile}", f"--remote-debugging-port={port}",
                             "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                info = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/version", timeout=2))
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("chromium did not start its DevTools endpoint") from None
                time.sleep(0.2)

        async def main():
            async with websockets.connect(info["webSocketDebuggerUrl"], max_size=2**26) as ws:
                boot = Page(ws, "")
                target = await boot.call("Target.createTarget", {"url": "about:blank"}, session=False)
                sid = (await boot.call("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True},
                                       session=False))["sessionId"]
                page = Page(ws, sid)
                page._counter = boot._counter
                await page.call("Page.enable")
                return await script(page)

        return asyncio.run(asyncio.wait_for(main(), timeout_s))
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(profile, ignore_errors=True)
