"""Recognise one page: engine call, reading order, timing."""

from __future__ import annotations

import time

import numpy as np
from PIL import Image

from pipeline.ocr.engines.base import OcrEngine
from pipeline.ocr.types import OcrLine, PageText


def reading_order(lines: list[OcrLine]) -> list[OcrLine]:
    """Horizontal text: rows top to bottom, each row left to right.

    Lines whose vertical extents overlap by more than half the smaller height share a row, so a
    slightly skewed line still reads in order.
    """
    rows: list[list[OcrLine]] = []
    for line in sorted(lines, key=lambda ln: (ln.bbox[1] + ln.bbox[3]) / 2):
        x0, y0, x1, y1 = line.bbox
        if rows:
            last = rows[-1]
            ry0 = min(ln.bbox[1] for ln in last)
            ry1 = max(ln.bbox[3] for ln in last)
            overlap = min(y1, ry1) - max(y0, ry0)
            if overlap > 0.5 * min(y1 - y0, ry1 - ry0):
                last.append(line)
                continue
        rows.append([line])
    return [ln for row in rows for ln in sorted(row, key=lambda ln: ln.bbox[0])]


def recognise_page(engine: OcrEngine, image: Image.Image) -> PageText:
    arr = np.asarray(image.convert("L") if image.mode in ("1", "L") else image.convert("RGB"))
    t0 = time.perf_counter()
    lines = [ln for ln in engine.recognise(arr) if ln.text.strip()]
    seconds = time.perf_counter() - t0
    return PageText(
        lines=tuple(reading_order(lines)),
        width=image.size[0],
        height=image.size[1],
        engine=engine.signature(),
        seconds=seconds,
    )
