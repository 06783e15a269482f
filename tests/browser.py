"""Reading a PDF as a person does, in Chromium's own PDF viewer (PDFium).

``copy_pdf_text`` opens a PDF in a real headless Chromium (``tests/cdp.py``), clicks into the
page, presses Ctrl+A and Ctrl+C, and returns what landed on the clipboard: the text a reader
would paste. Plumbing for tests, not a test double: the browser and its PDF viewer are real.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from .cdp import run_in_browser


def copy_pdf_text(pdf: Path, settle_s: float = 4.0, timeout_s: float = 60.0) -> str:
    async def script(page) -> str:
        await page.call("Page.navigate", {"url": pdf.resolve().as_uri()})
        await page.call("Browser.grantPermissions", {"permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]},
                        session=False)
        await asyncio.sleep(settle_s)  # the viewer loads PDFium and lays out the page
        await page.call("Emulation.setFocusEmulationEnabled", {"enabled": True})
        for kind in ("mousePressed", "mouseReleased"):
            await page.call("Input.dispatchMouseEvent", {"type": kind, "x": 400, "y": 300, "button": "left",
                                                         "clickCount": 1})
        await asyncio.sleep(0.5)
        for command, key, code in (("selectAll", "a", 65), ("copy", "c", 67)):
            await page.call("Input.dispatchKeyEvent", {"type": "rawKeyDown", "modifiers": 2, "key": key,
                                                       "code": f"Key{key.upper()}", "windowsVirtualKeyCode": code,
                                                       "commands": [command]})
            await page.call("Input.dispatchKeyEvent", {"type": "keyUp", "modifiers": 2, "key": key,
                                                       "code": f"Key{key.upper()}", "windowsVirtualKeyCode": code})
            await asyncio.sleep(0.5)
        return await page.js("navigator.clipboard.readText()") or ""

    return run_in_browser(script, timeout_s)
