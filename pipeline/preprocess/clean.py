"""Photometric steps: flatten the background, remove specks, optionally binarise.

Every step keeps colour where the page has it, so red seals (印章), red 红头 and handwriting
survive: the background is divided out channel by channel, which removes stains and uneven light
but leaves anything darker than the paper around it.
"""

from __future__ import annotations

import cv2
import numpy as np

from pipeline.preprocess.geometry import grey, histogram_u8, percentiles_u8


def background(small: np.ndarray, factor: int, window: int) -> np.ndarray:
    """The page's background from its ``geometry.sample`` (``factor`` times smaller): a dilation
    that erases strokes, then a blur; ``window`` is in full-size pixels."""
    k = max(3, int((window | 1) / factor) | 1)
    # The background is smooth: it is found on a copy smaller still (a 50-px kernel on a
    # 1,000-px page is most of the cost), then scaled back to ``small``'s size.
    f = max(1, k // 8)
    tiny = cv2.resize(small, None, fx=1 / f, fy=1 / f, interpolation=cv2.INTER_AREA) if f > 1 else small
    kt = max(3, int(k / f) | 1)
    bg = cv2.dilate(tiny, cv2.getStructuringElement(cv2.MORPH_RECT, (kt, kt)))
    bg = cv2.GaussianBlur(bg, (kt, kt), 0)
    return cv2.resize(bg, (small.shape[1], small.shape[0]), interpolation=cv2.INTER_LINEAR) if f > 1 else bg


def unevenness(bg: np.ndarray) -> float:
    """How far the background's darkest parts fall below its brightest (0: flat paper), as a
    fraction: stains, shadows and uneven light make it large."""
    # Every other pixel: the background is smooth, and a histogram of nearly one value is slow to count.
    dark, bright = percentiles_u8(grey(bg)[::2, ::2], 1, 99)
    return (max(bright, 1.0) - dark) / max(bright, 1.0)


def flatten_background(image: np.ndarray, window: int, bg: np.ndarray | None = None) -> np.ndarray:
    """Divide each channel by its local background (``background``, computed here if not given)."""
    if bg is None:
        # The background is a dilation's maximum, then a blur: a plain every-n-th-pixel copy
        # serves as well as an averaged one (within 1 grey level) in a sixth of the time.
        f = max(1, max(image.shape[:2]) // 1000)
        bg = background(cv2.resize(image, None, fx=1 / f, fy=1 / f, interpolation=cv2.INTER_NEAREST), f, window)
    # Kept >= 1 at the small size: interpolating values >= 1 cannot give 0 (a full-size maximum cost 10 ms).
    bg = cv2.resize(np.maximum(bg, 1), (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
    return cv2.divide(image, bg, scale=255)  # saturating uint8: no float copies


def otsu_u8(hist: np.ndarray) -> float:
    """Otsu's threshold from a 256-bin histogram (the same value cv2.threshold finds)."""
    p = hist.astype(np.float64) / max(hist.sum(), 1)
    omega = np.cumsum(p)
    mu = np.cumsum(p * np.arange(256))
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mu[-1] * omega - mu) ** 2 / (omega * (1 - omega))
    return float(np.nanargmax(np.nan_to_num(between, nan=-1.0)))


def stretch_contrast(image: np.ndarray, low_percentile: float = 0.5,
                     sample: np.ndarray | None = None) -> tuple[np.ndarray, float, float]:
    """Levels: the darkest ink to black, and everything lighter than a white point to white.

    The white point lies halfway from the ink/paper threshold (Otsu, on the
    flattened page) to white: faint show-through of the verso and grey stain edges are lighter
    than that and vanish, faded ink is darker and stays. One histogram gives both levels, taken
    from ``sample``, a grey copy of every n-th pixel of ``image`` (default: every other row and
    column). Levels need few pixels: a clean page's histogram, nearly all one value, is slow to
    count, and the sample's every other pixel (1/36 of a 300-dpi page) is enough.
    """
    g = grey(image[::2, ::2]) if sample is None else sample[::2, ::2]
    hist = histogram_u8(g)
    cdf = np.cumsum(hist)
    low = float(np.searchsorted(cdf, low_percentile / 100 * cdf[-1]))
    if low >= 200:  # a blank page: nothing to stretch
        return image, low, 255.0
    otsu = otsu_u8(hist)
    white = float(min(250.0, otsu + 0.5 * (255 - otsu)))
    # (x - low) * gain, saturated to 0..255 on every channel: one pass, twice as fast as cv2.LUT.
    gain = 255.0 / max(white - low, 1.0)
    return cv2.addWeighted(image, gain, image, 0.0, -low * gain), low, white


def speck_density(image: np.ndarray, dpi: float) -> float:
    """Isolated dark specks (dust, scanner noise) per square inch: tiny connected components."""
    h, w = image.shape[:2]
    # An eighth of the page, its middle, is a fair sample: dusty pages measure hundreds of specks
    # per square inch, clean ones under 1.
    middle = image[3 * h // 8 : 5 * h // 8, w // 4 : 3 * w // 4]
    g = grey(middle)
    # Otsu's threshold from every other pixel (the same within a level): a histogram of mostly
    # paper, nearly one value, is slow to count.
    _, ink = cv2.threshold(g, otsu_u8(histogram_u8(g[::2, ::2])), 255, cv2.THRESH_BINARY_INV)
    # Grana's block-based labelling: the same components, their statistics 2.7x faster than the default.
    _, _, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(ink, 8, cv2.CV_32S, cv2.CCL_GRANA)
    tiny = int((stats[1:, cv2.CC_STAT_AREA] <= max(2, (dpi / 100) ** 2 * 2)).sum())
    return tiny / max(middle.shape[0] * middle.shape[1] / dpi / dpi, 1e-6)


def find_seals(image: np.ndarray, dpi: float) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """Red seals (印章): red ink in a roughly square region of seal size (0.5-2.5 inches).

    Red text lines (红头) are wide and short, so they are not taken for seals. Returns the mask of
    the seals' red pixels and their boxes.
    """
    if image.ndim != 3:
        return np.zeros(image.shape[:2], bool), []
    f = 4  # find the shapes on a quarter-size mask (any red in a 4x4 block counts)
    # Red is looked for in every ``step``-th pixel first (at 300 dpi every 4th, 1/75 inch apart), each
    # red sample widened by one: as any red in a block did at full size, it keeps a seal's ring in
    # one piece (bare samples broke it on 1 of 2 bench pages). Then exactly, inside the seals found:
    # most pages have none.
    step = 4 if dpi >= 300 else 2 if dpi >= 150 else 1
    if step == 1:
        small = red_ink(image)
    else:
        sample = cv2.resize(image, None, fx=1 / step, fy=1 / step, interpolation=cv2.INTER_NEAREST)
        small = cv2.dilate(red_ink(sample), np.ones((3, 3), np.uint8))
    if step < f:
        small = cv2.resize(small, None, fx=step / f, fy=step / f, interpolation=cv2.INTER_AREA)
    k = max(3, int(dpi / 12 / f) | 1)
    if not cv2.countNonZero(small):  # no red at all (most pages): labelling an empty mask took 3 ms
        return np.zeros(image.shape[:2], bool), []
    closed = cv2.morphologyEx((small > 0).astype(np.uint8), cv2.MORPH_CLOSE, np.ones((k, k), np.uint8))
    n, _, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(closed, 8, cv2.CV_32S, cv2.CCL_GRANA)
    boxes = []
    for x, y, w, h, _area in stats[1:n]:
        w_in, h_in = w * f / dpi, h * f / dpi
        if 0.5 <= w_in <= 2.5 and 0.5 <= h_in <= 2.5 and 0.75 <= w / h <= 1.33:
            boxes.append((int(x * f), int(y * f), int((x + w) * f), int((y + h) * f)))
    mask = np.zeros(image.shape[:2], bool)
    for x0, y0, x1, y1 in boxes:
        mask[y0:y1, x0:x1] = red_ink(image[y0:y1, x0:x1]) > 0
    return mask, boxes


def red_ink(image: np.ndarray) -> np.ndarray:
    """255 where a pixel is clearly red, else 0; uint8 OpenCV ops only (no bool or int copies)."""
    r, g, b = cv2.split(image)
    _, redder = cv2.threshold(cv2.subtract(r, cv2.max(g, b)), 60, 255, cv2.THRESH_BINARY)
    _, bright = cv2.threshold(r, 120, 255, cv2.THRESH_BINARY)
    return cv2.bitwise_and(redder, bright)


def mask_seals(image: np.ndarray, dpi: float, in_place: bool = False) -> tuple[np.ndarray, list]:
    """The OCR copy without the seals' red ink (text under a seal is dark in every channel and
    stays); the access copy keeps the seal. ``in_place``: mask ``image`` itself, not a copy."""
    mask, boxes = find_seals(image, dpi)
    if not boxes:
        return image, []
    out = image if in_place else image.copy()
    h, w = mask.shape
    for x0, y0, x1, y1 in boxes:  # only around the seals: a full-page dilation and mask cost ~15 ms
        x0, y0, x1, y1 = max(0, x0 - 1), max(0, y0 - 1), min(w, x1 + 1), min(h, y1 + 1)
        region = cv2.dilate(mask[y0:y1, x0:x1].astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        out[y0:y1, x0:x1][region] = 255
    return out, boxes


def despeckle(image: np.ndarray, ksize: int = 3) -> np.ndarray:
    return cv2.medianBlur(image, ksize)


def binarise(image: np.ndarray, block: int) -> np.ndarray:
    """Local (adaptive Gaussian) threshold; returns a 0/255 single-channel image."""
    return cv2.adaptiveThreshold(grey(image), 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C, cv2.THRESH_BINARY,
                                 block | 1, 15)
