"""Vertical text (竖排) for recognisers trained on horizontal lines.

PP-OCR's recogniser reads one horizontal line of upright characters. A vertical column turned by
90° shows it sideways characters, which it reads badly (16-36% CER measured). Instead the column
is cut into its characters (gaps in the row profile of the ink) and the characters are set side
by side, upright, into one horizontal strip: the recogniser then sees what it was trained on.
"""

from __future__ import annotations

import cv2
import numpy as np


def _ink(crop: np.ndarray) -> np.ndarray:
    g = crop if crop.ndim == 2 else cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    _, ink = cv2.threshold(g, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    return ink > 0


def median_u8(image: np.ndarray) -> np.ndarray:
    """Each channel's median (np.median's value, the two middle values averaged and truncated as
    a uint8 array takes them) from its histogram: 8x faster than sorting the column's pixels."""
    image = np.ascontiguousarray(image)
    n = image.shape[0] * image.shape[1]
    out = []
    for c in range(image.shape[2] if image.ndim == 3 else 1):
        cdf = np.cumsum(cv2.calcHist([image], [c], None, [256], [0, 256]).ravel().astype(np.int64))
        lo, hi = np.searchsorted(cdf, [(n - 1) // 2, n // 2], side="right")
        out.append((int(lo) + int(hi)) // 2)
    return np.array(out if image.ndim == 3 else out[0], np.uint8)


def character_cells(crop: np.ndarray) -> list[tuple[int, int]]:
    """Row ranges of the characters in an upright column image, top to bottom.

    Ink runs separated by blank rows are merged while the merged piece stays within about one
    character (a square as wide as the column's ink): 三 or 二 stay one character, a 。 after a
    character stays its own.
    """
    return _cells(crop)[0]


def _cells(crop: np.ndarray) -> tuple[list[tuple[int, int]], tuple[int, int]]:
    """``character_cells`` and the column's inked span of pixel columns, [x0, x1)."""
    ink = _ink(crop)
    rows = ink.sum(axis=1) > max(1, 0.01 * ink.shape[1])
    cols = np.nonzero(ink.sum(axis=0) > 0)[0]
    if not rows.any() or len(cols) == 0:
        return [], (0, crop.shape[1])
    width = cols[-1] - cols[0] + 1
    # Runs of inked rows, [start, end): where the row profile steps on and off.
    steps = np.diff(np.concatenate(([0], rows.view(np.int8), [0])))
    runs = zip(np.flatnonzero(steps == 1).tolist(), np.flatnonzero(steps == -1).tolist())
    cells: list[list[int]] = []
    for r in runs:
        if cells and r[1] - cells[-1][0] <= 1.1 * width and r[0] - cells[-1][1] < 0.3 * width:
            cells[-1][1] = r[1]
        else:
            cells.append(list(r))
    # A piece much taller than a character is several touching characters: cut it evenly.
    out: list[tuple[int, int]] = []
    for y0, y1 in cells:
        n = max(1, round((y1 - y0) / width)) if (y1 - y0) > 1.5 * width else 1
        step = (y1 - y0) / n
        out.extend((round(y0 + i * step), round(y0 + (i + 1) * step)) for i in range(n))
    return out, (int(cols[0]), int(cols[-1]) + 1)


def restack(crop: np.ndarray) -> np.ndarray:
    """One horizontal strip of the column's characters, upright, left to right in reading order.

    The strip is as tall as the column's box is wide (with a margin), so each character keeps the
    room above and below it that a horizontal line's box gives; side by side the characters are
    set at their own width, as a line of type sets them. Set that close they read better and
    faster than in square slots as wide as the box (measured on 10 vertical pages: 45 -> 41 errors
    in 1,674 characters, 1.06 -> 0.89 s a page: the recogniser's input is ~30% narrower).
    """
    cells, (x0, x1) = _cells(crop)
    if not cells:
        return np.ascontiguousarray(np.rot90(crop))
    tallest = max(y1 - y0 for y0, y1 in cells)
    size = max(crop.shape[1], tallest)
    gap = max(2, size // 8)
    slot = max(x1 - x0, tallest) + max(2, size // 12)
    strip = np.empty((size + 2 * gap, 2 * gap + len(cells) * slot, *crop.shape[2:]), crop.dtype)
    # The paper's colour: the median of every other pixel (a column is mostly paper, and a
    # histogram of nearly one value is slow to count: a quarter of the pixels, a quarter the time).
    strip[...] = median_u8(crop[::2, ::2])
    x = gap
    for y0, y1 in cells:
        piece = crop[y0:y1, x0:x1]
        top, left = gap + (size - piece.shape[0]) // 2, x + (slot - piece.shape[1]) // 2
        strip[top : top + piece.shape[0], left : left + piece.shape[1]] = piece
        x += slot
    return strip
