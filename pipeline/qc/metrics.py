"""Image measurements for QC, on a greyscale page scaled to a reference resolution.

Measuring at one resolution (150 dpi by default) makes thresholds mean the same for a 200-dpi
and a 600-dpi scan, and keeps each page's measurement to tens of milliseconds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

REFERENCE_DPI = 150


@dataclass(frozen=True)
class PageMetrics:
    ink_ratio: float  # share of pixels darker than the page's Otsu threshold
    contrast: float  # standard deviation of grey levels
    sharpness: float  # variance of the Laplacian at the reference resolution
    skew_degrees: float  # dominant text-line angle, positive = counter-clockwise
    border_sides: int  # sides (0-4) with a dark scanner border

    def as_dict(self) -> dict:
        return asdict(self)


def to_reference(grey: np.ndarray, dpi: float | None) -> np.ndarray:
    scale = REFERENCE_DPI / (dpi or 300.0)
    if abs(scale - 1) < 0.05:
        return grey
    h, w = grey.shape
    return cv2.resize(grey, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def _ink(grey: np.ndarray) -> np.ndarray:
    """Pixels clearly darker than the paper: Otsu's split, but never within 40 levels of the
    median, so the grain of a blank sheet does not count as ink."""
    otsu, _ = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    limit = min(otsu, float(np.median(grey)) - 40)
    return (grey < limit).astype(np.uint8)


def skew_angle(ink: np.ndarray, limit: float = 15.0) -> float:
    """Angle that makes text rows sharpest (projection-profile method), coarse then fine."""
    h, w = ink.shape
    if ink.sum() < 50:
        return 0.0
    small = ink.astype(np.float32)
    if w > 800:
        small = cv2.resize(small, (800, max(1, round(h * 800 / w))), interpolation=cv2.INTER_AREA)
    hs, ws = small.shape
    centre = (ws / 2, hs / 2)

    def score(angle: float) -> float:
        m = cv2.getRotationMatrix2D(centre, angle, 1.0)
        rotated = cv2.warpAffine(small, m, (ws, hs), flags=cv2.INTER_NEAREST, borderValue=0)
        rows = rotated.sum(axis=1)
        return float(np.var(np.diff(rows)))

    best = max(np.arange(-limit, limit + 1e-9, 0.5), key=score)
    best = max(np.arange(best - 0.5, best + 0.5 + 1e-9, 0.1), key=score)
    # Rotating by `best` straightens the page, so the page itself is skewed by -best.
    return round(-float(best), 2)


def border_sides(grey: np.ndarray, strip: float = 0.015, dark: int = 60, share: float = 0.6) -> int:
    h, w = grey.shape
    sh, sw = max(1, int(h * strip)), max(1, int(w * strip))
    strips = (grey[:sh], grey[-sh:], grey[:, :sw], grey[:, -sw:])
    return sum(float((s < dark).mean()) > share for s in strips)


def measure(grey: np.ndarray, dpi: float | None) -> PageMetrics:
    ref = to_reference(grey, dpi)
    ink = _ink(ref)
    contrast = float(ref.std())
    ink_ratio = float(ink.mean())
    sharp = float(cv2.Laplacian(ref, cv2.CV_64F).var())
    return PageMetrics(
        ink_ratio=round(ink_ratio, 5),
        contrast=round(contrast, 2),
        sharpness=round(sharp, 1),
        skew_degrees=skew_angle(ink) if ink_ratio > 0.001 else 0.0,
        border_sides=border_sides(ref),
    )
