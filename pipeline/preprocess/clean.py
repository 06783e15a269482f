"""Photometric steps: flatten the background, remove specks, optionally binarise.

Every step keeps colour where the page has it, so red seals (印章), red 红头 and handwriting
survive: the background is divided out channel by channel, which removes stains and uneven light
but leaves anything darker than the paper around it.
"""

from __future__ import annotations

import cv2
import numpy as np

from pipeline.preprocess.geometry import grey


def flatten_background(image: np.ndarray, window: int) -> np.ndarray:
    """Divide each channel by its local background (a dilation that erases strokes, then a blur)."""
    window |= 1
    small_scale = 0.25
    small = cv2.resize(image, None, fx=small_scale, fy=small_scale, interpolation=cv2.INTER_AREA)
    k = max(3, int(window * small_scale) | 1)
    bg = cv2.dilate(small, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    bg = cv2.GaussianBlur(bg, (k, k), 0)
    bg = cv2.resize(bg, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
    out = image.astype(np.float32) * 255.0 / np.maximum(bg.astype(np.float32), 1.0)
    return np.clip(out, 0, 255).astype(np.uint8)


def stretch_contrast(image: np.ndarray, low_percentile: float = 0.5) -> tuple[np.ndarray, float]:
    """Map the darkest ink to black, the paper (after flattening: ~255) stays white."""
    g = grey(image)
    low = float(np.percentile(g, low_percentile))
    if low >= 200:  # a blank page: nothing to stretch
        return image, low
    lut = np.clip((np.arange(256, dtype=np.float32) - low) * 255.0 / max(255.0 - low, 1.0), 0, 255).astype(np.uint8)
    return cv2.LUT(image, lut), low


def despeckle(image: np.ndarray, ksize: int = 3) -> np.ndarray:
    return cv2.medianBlur(image, ksize)


def binarise(image: np.ndarray, block: int) -> np.ndarray:
    """Local (adaptive Gaussian) threshold; returns a 0/255 single-channel image."""
    return cv2.adaptiveThreshold(grey(image), 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C, cv2.THRESH_BINARY,
                                 block | 1, 15)
