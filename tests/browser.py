"""A real headless Chromium driven over the DevTools protocol, for reading a PDF as a person does.

``copy_pdf_text`` opens a PDF in Chromium's own PDF viewer (PDFium), clicks into the page,
presses Ctrl+A and Ctrl+C, and returns what landed on the clipboard: the text a reader would
paste. Plumbing for tests, not a test double: the browser and its PDF viewer are real.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-background-networking", "--disable-component-update",
         "--no-first-run", "--disable-gpu"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def copy_pdf_text(pdf: Path, settle_s: float = 4.0, timeout_s: float = 60.0) -> str:
    import websockets

    profile = tempfile.mkdtemp(prefix="dangan-chromium-")
    port = _free_port()
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
                    raise RuntimeError("chromium did not start its DevTools endpoint")
                time.sleep(0.2)

        async def run() -> str:
            async with websockets.connect(info["webSocketDebuggerUrl"], max_size=2**26) as ws:
                counter = 0

                async def call(method, params=None, session=None):
                    nonlocal counter
                    counter += 1
                    msg = {"id": counter, "method": method, "params": params or {}}
                    if session:
                        msg["sessionId"] = session
                    await ws.send(json.dumps(msg))
                    while True:
                        reply = json.loads(await ws.recv())
                        if reply.get("id") == counter:
                            if "error" in reply:
                                raise RuntimeError(f"{method}: {reply['error']}")
                            return reply["result"]

                target = await call("Target.createTarget", {"url": pdf.resolve().as_uri()})
                sid = (await call("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}))["sessionId"]
                await call("Browser.grantPermissions", {"permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
                await asyncio.sleep(settle_s)  # the viewer loads PDFium and lays out the page
                await call("Emulation.setFocusEmulationEnabled", {"enabled": True}, sid)
                for kind in ("mousePressed", "mouseReleased"):
                    await call("Input.dispatchMouseEvent", {"type": kind, "x": 400, "y": 300, "button": "left",
                                                            "clickCount": 1}, sid)
                await asyncio.sleep(0.5)
                for command, key, code in (("selectAll", "a", 65), ("copy", "c", 67)):
                    await call("Input.dispatchKeyEvent", {"type": "rawKeyDown", "modifiers": 2, "key": key,
                                                          "code": f"Key{key.upper()}", "windowsVirtualKeyCode": code,
                                                          "commands": [command]}, sid)
                    await call("Input.dispatchKeyEvent", {"type": "keyUp", "modifiers": 2, "key": key,
                                                          "code": f"Key{key.upper()}", "windowsVirtualKeyCode": code}, sid)
                    await asyncio.sleep(0.5)
                res = await call("Runtime.evaluate", {"expression": "navigator.clipboard.readText()",
                                                      "awaitPromise": True}, sid)
                return res["result"].get("value", "")

        return asyncio.run(asyncio.wait_for(run(), timeout_s))
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(profile, ignore_errors=True)
