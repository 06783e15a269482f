"""Reading order: blocks and columns by recursive XY-cut over the line boxes, then lines within.

Horizontal pages read blocks top to bottom, columns left to right, rows top to bottom. Vertical
pages (竖排) read columns right to left, each top to bottom. A heading that spans the columns is
its own block above them, because the cut at a blank horizontal band comes first.
"""

from __future__ import annotations

from pipeline.ocr.types import OcrLine


def _gaps(spans: list[tuple[int, int]], min_gap: float) -> list[float]:
    """Cut positions in the empty stretches between spans (projected boxes) wider than min_gap."""
    cuts = []
    spans = sorted(spans)
    reach = spans[0][1]
    for a, b in spans[1:]:
        if a - reach > min_gap:
            cuts.append((a + reach) / 2)
        reach = max(reach, b)
    return cuts


def _rows(lines: list[OcrLine]) -> list[OcrLine]:
    """Rows top to bottom, each left to right; boxes overlapping by half their height share a row."""
    rows: list[list[OcrLine]] = []
    for line in sorted(lines, key=lambda ln: (ln.bbox[1] + ln.bbox[3]) / 2):
        x0, y0, x1, y1 = line.bbox
        if rows:
            last = rows[-1]
            ry0 = min(ln.bbox[1] for ln in last)
            ry1 = max(ln.bbox[3] for ln in last)
            if min(y1, ry1) - max(y0, ry0) > 0.5 * min(y1 - y0, ry1 - ry0):
                last.append(line)
                continue
        rows.append([line])
    return [ln for row in rows for ln in sorted(row, key=lambda ln: ln.bbox[0])]


def _columns(lines: list[OcrLine]) -> list[OcrLine]:
    """Vertical lines: right to left; lines sharing a column (overlapping in x) top to bottom."""
    cols: list[list[OcrLine]] = []
    for line in sorted(lines, key=lambda ln: -(ln.bbox[0] + ln.bbox[2]) / 2):
        x0, _, x1, _ = line.bbox
        if cols:
            last = cols[-1]
            cx0 = min(ln.bbox[0] for ln in last)
            cx1 = max(ln.bbox[2] for ln in last)
            if min(x1, cx1) - max(x0, cx0) > 0.5 * min(x1 - x0, cx1 - cx0):
                last.append(line)
                continue
        cols.append([line])
    return [ln for col in cols for ln in sorted(col, key=lambda ln: ln.bbox[1])]


def reading_order(lines: list[OcrLine], vertical: bool = False) -> list[OcrLine]:
    if len(lines) < 2:
        return list(lines)
    # Typical line thickness: gaps wider than this separate blocks, not lines.
    thick = sorted((ln.bbox[2] - ln.bbox[0]) if vertical else (ln.bbox[3] - ln.bbox[1]) for ln in lines)
    unit = max(1, thick[len(thick) // 2])
    # Classic XY-cut: a blank band across the page splits blocks (top to bottom), so a heading over
    # two columns comes first; within a block a gutter splits columns (left to right).
    y_cuts = _gaps([(ln.bbox[1], ln.bbox[3]) for ln in lines], (1.0 if vertical else 1.5) * unit)
    if y_cuts:
        return [ln for band in _split(lines, y_cuts, axis=1) for ln in reading_order(band, vertical)]
    if not vertical:
        x_cuts = _gaps([(ln.bbox[0], ln.bbox[2]) for ln in lines], 1.5 * unit)
        if x_cuts:
            return [ln for col in _split(lines, x_cuts, axis=0) for ln in reading_order(col, vertical)]
    return _columns(lines) if vertical else _rows(lines)


def _split(lines: list[OcrLine], cuts: list[float], axis: int) -> list[list[OcrLine]]:
    groups: list[list[OcrLine]] = [[] for _ in range(len(cuts) + 1)]
    for ln in lines:
        mid = (ln.bbox[axis] + ln.bbox[axis + 2]) / 2
        groups[sum(mid > c for c in cuts)].append(ln)
    return [g for g in groups if g]
