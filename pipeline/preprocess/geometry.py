"""Geometric steps: border crop and deskew (measure the skew, rotate it away)."""

from __future__ import annotations

import time

import cv2
import numpy as np

# Ink pixels the skew search looks at (a random subset of a dense page): 30,000 find the same angles
# as 60,000 on the bench pages in half the time. The coarse search, which only has to land within
# half a step of the peak, looks at a third of them.
_SKEW_POINTS = 30_000
_COARSE_POINTS = 10_000


def grey(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def histogram_u8(g: np.ndarray) -> np.ndarray:
    """The 256-bin histogram of a uint8 image (calcHist: 10x faster than bincount)."""
    return cv2.calcHist([np.ascontiguousarray(g)], [0], None, [256], [0, 256]).ravel()


def percentiles_u8(g: np.ndarray, *qs: float) -> tuple[float, ...]:
    """Percentiles of a uint8 image from one histogram (50x faster than np.percentile on a
    300-dpi page)."""
    cdf = np.cumsum(histogram_u8(g))
    return tuple(float(np.searchsorted(cdf, q / 100 * cdf[-1])) for q in qs)


def percentile_u8(g: np.ndarray, q: float) -> float:
    return percentiles_u8(g, q)[0]


def sample(image: np.ndarray, long_side: int = 1000) -> tuple[np.ndarray, int]:
    """Every ``factor``-th pixel of each ``factor``-th row, made grey, at least ``long_side`` px
    long, and the factor: the page's statistics (levels, background, skew) are taken from it.

    A plain subsample, not an average: on 46 skewed and noisy bench pages at 150-300 dpi the skew
    measured on it was as close to the true one (within 0.05°) as on an INTER_AREA copy, and it
    costs 1.5 ms against 9 ms for a grey page and its average (300-dpi A4).
    """
    f = max(1, max(image.shape[:2]) // long_side)
    if f > 1:  # INTER_NEAREST by a whole factor takes pixels (f*i, f*j): the same as image[::f, ::f]
        image = cv2.resize(image, None, fx=1 / f, fy=1 / f, interpolation=cv2.INTER_NEAREST)
    return grey(image), f


def text_rows(small: np.ndarray, factor: int, paper: float, height: int) -> tuple[int, int] | None:
    """The page's rows [y0, y1) that hold anything darker than ``paper`` (the levels' white point:
    what the OCR copy does not show as paper), from its ``sample``; None on a page of paper only."""
    inked = np.flatnonzero(cv2.reduce(small, 1, cv2.REDUCE_MIN).ravel() < paper)
    if not len(inked):
        return None
    return int(inked[0]) * factor, min(height, (int(inked[-1]) + 1) * factor)


def paper_colour(image: np.ndarray) -> tuple[int, ...]:
    """The page's background colour: the median of its brightest half (text and stains excluded)."""
    step = max(1, min(image.shape[:2]) // 256)  # every n-th pixel first: INTER_AREA over a whole page is slow
    small = cv2.resize(np.ascontiguousarray(image[::step, ::step]), (64, 64), interpolation=cv2.INTER_AREA)
    flat = small.reshape(-1, 1 if image.ndim == 2 else image.shape[2]).astype(np.float32)
    lum = flat.mean(axis=1)
    bright = flat[lum >= np.median(lum)]
    return tuple(int(v) for v in np.median(bright, axis=0))


def find_border(image: np.ndarray, dark_fraction: float = 0.6,
                small: tuple[np.ndarray, int] | None = None) -> tuple[int, int, int, int]:
    """The sheet inside dark scanner-lid edges: (x0, y0, x1, y1).

    An edge row or column belongs to the border while most of its pixels are far darker than the
    paper; we stop at the first row that is mostly paper, so text is never cut. ``small``: the
    page's ``sample`` and its factor, if the caller has them.

    Rows and columns are judged at full size, but only in a band along each edge: the sample
    says how deep the border goes, and the band is deepened until a row of paper ends it (most
    pages have no border: four bands a few pixels deep instead of a grey page and its profiles).
    """
    g, f = sample(image) if small is None else small
    h, w = image.shape[:2]
    # The paper's level from every other pixel of the sample: a histogram of a clean page, nearly
    # all one value, is slow to count (2 ms for the sample), and a quarter gives the same level.
    threshold = np.ceil(0.5 * percentile_u8(g[::2, ::2], 90)) - 1

    def dark(band: np.ndarray, axis: int) -> np.ndarray:
        """The dark fraction of each row (axis 1) or column (axis 0) of ``band``."""
        _, mask = cv2.threshold(grey(np.ascontiguousarray(band)), threshold, 1, cv2.THRESH_BINARY_INV)
        return cv2.reduce(mask, axis, cv2.REDUCE_AVG, dtype=cv2.CV_32F).ravel()

    def inward(profile: np.ndarray, limit: int) -> int:
        n = 0
        while n < min(limit, len(profile)) and profile[n] > dark_fraction:
            n += 1
        return n

    def depth(edge, size: int, guess: int) -> int:
        """How many rows (or columns) from one edge are border; ``edge(k)``: the k outermost's profile."""
        limit = size // 4  # never take more than a quarter from one side
        k = min(limit, f * (guess + 1) + 1)
        while True:
            n = inward(edge(k), limit)
            if n < k or k >= limit:
                return n
            k = min(limit, 2 * k)

    _, sm = cv2.threshold(g, threshold, 1, cv2.THRESH_BINARY_INV)
    rows = cv2.reduce(sm, 1, cv2.REDUCE_AVG, dtype=cv2.CV_32F).ravel()
    cols = cv2.reduce(sm, 0, cv2.REDUCE_AVG, dtype=cv2.CV_32F).ravel()
    y0 = depth(lambda k: dark(image[:k], 1), h, inward(rows, len(rows)))
    y1 = h - depth(lambda k: dark(image[h - k:], 1)[::-1], h, inward(rows[::-1], len(rows)))
    x0 = depth(lambda k: dark(image[:, :k], 0), w, inward(cols, len(cols)))
    x1 = w - depth(lambda k: dark(image[:, w - k:], 0)[::-1], w, inward(cols[::-1], len(cols)))
    return x0, y0, x1, y1


def measure_skew(image: np.ndarray, max_angle: float = 10.0) -> tuple[float, float]:
    """Skew in degrees (positive: the text runs up to the right, counter-clockwise) and a strength.

    Projection profiles: ink pixels rotated by a trial angle are binned into rows (and columns, for
    vertical text); the angle that makes the profile sharpest (largest variance) is the skew.
    Coarse search, then fine, on the ink of a page scaled to 1,000-1,500 px.
    """
    g = grey(image)
    if max(g.shape) > 1500:  # a copy already shrunk to 1,000-1,500 px is measured as it is
        scale = 1000 / max(g.shape)
        g = cv2.resize(g, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    _, ink = cv2.threshold(g, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    pts = cv2.findNonZero(ink)  # the points np.nonzero finds, in its order, in a third of the time
    if pts is None or len(pts) < 200:
        return 0.0, 0.0
    pts = pts.reshape(-1, 2)  # (n, 1, 2) in OpenCV 4, (n, 2) in 5
    xs, ys = pts[:, 0], pts[:, 1]
    rng = np.random.default_rng(0)
    if len(xs) > _SKEW_POINTS:  # a random subset keeps the search fast on dense pages
        pick = rng.choice(len(xs), _SKEW_POINTS, replace=False)
        xs, ys = xs[pick], ys[pick]
    xs = xs.astype(np.float32) - g.shape[1] / 2
    ys = ys.astype(np.float32) - g.shape[0] / 2
    few = rng.choice(len(xs), _COARSE_POINTS, replace=False) if len(xs) > _COARSE_POINTS else slice(None)
    # Every point lies within half the diagonal (< 0.71 of the long side) of the centre, so after
    # any rotation its bin is inside [0, n_bins): no clipping needed.
    n_bins = int(max(g.shape) * 1.5)
    middle = np.float32(n_bins / 2)

    def scores(degs: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """Profile sharpness at each trial angle (float32 throughout: float64 trig values would
        make every product a float64 copy, 2.5x slower)."""
        out = np.empty(len(degs))
        for i, deg in enumerate(degs):
            a = np.deg2rad(deg)
            c, s = np.float32(np.cos(a)), np.float32(np.sin(a))
            yr = ys * c  # y after rotating the page by -deg
            yr += xs * s
            yr += middle
            xr = xs * c  # x likewise
            xr -= ys * s
            xr += middle
            hy = np.bincount(yr.astype(np.int32), minlength=n_bins)
            hx = np.bincount(xr.astype(np.int32), minlength=n_bins)
            out[i] = max(int(np.dot(hy, hy)), int(np.dot(hx, hx)))
        return out

    coarse = np.arange(-max_angle, max_angle + 1e-6, 0.5)
    coarse_scores = scores(coarse, xs[few], ys[few])
    best = float(coarse[int(np.argmax(coarse_scores))])
    # The profile's peak is narrower than the coarse step but lies within half a step of the best
    # coarse angle: the fine search covers a little more than that.
    fine = np.arange(best - 0.3, best + 0.3 + 1e-6, 0.05)
    fine_scores = scores(fine, xs, ys)
    angle = float(fine[int(np.argmax(fine_scores))])
    strength = float(coarse_scores.max() / (np.median(coarse_scores) or 1.0))  # the peak against a typical angle
    return angle, strength


class Fastest:
    """Of ways that give the same pixels, the one this process measured fastest.

    Each way is timed, per pixel, on the first real call it is given (calls take them in turn
    until each has one time); the fastest is used from then on.
    """

    def __init__(self, *ways: str):
        self.per_pixel: dict[str, float | None] = dict.fromkeys(ways)

    def choose(self) -> str:
        untried = [w for w, t in self.per_pixel.items() if t is None]
        return untried[0] if untried else min(self.per_pixel, key=self.per_pixel.get)

    def record(self, way: str, seconds: float, pixels: int) -> None:
        if self.per_pixel[way] is None:
            self.per_pixel[way] = seconds / max(pixels, 1)


# OpenCV's bilinear warp of a colour page is faster through 4 channels (RGBA and back: its vector
# path) on some machines and directly on 3 on others, and which depends on the page's size, not only
# the CPU: on 300-dpi A4 pages, 47 against 70 ms and 72 against 139 ms through RGBA on two earlier
# machines (one an AVX2 EPYC); 110 against 70 ms on an AVX-512 Xeon, where RGBA was still the faster
# on pages of 1,000 px and less. Both give the same pixels (a test compares): each process measures.
COLOUR_WARP = Fastest("rgba", "rgb")


def rotate(image: np.ndarray, angle: float, fill: tuple[int, ...]) -> np.ndarray:
    """Rotate counter-clockwise by ``angle`` degrees about the centre, growing the canvas."""
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    c, s = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(h * s + w * c + 0.5), int(h * c + w * s + 0.5)
    m[0, 2] += nw / 2 - w / 2
    m[1, 2] += nh / 2 - h / 2
    if image.ndim == 3 and image.shape[2] == 3:
        way = COLOUR_WARP.choose()
        t = time.perf_counter()
        out = warp_colour(image, m, (nw, nh), fill, way)
        COLOUR_WARP.record(way, time.perf_counter() - t, nw * nh)
        return out
    border = fill if image.ndim == 3 else fill[0]
    return cv2.warpAffine(image, m, (nw, nh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=border)


def warp_colour(image: np.ndarray, m: np.ndarray, size: tuple[int, int], fill: tuple[int, ...],
                way: str) -> np.ndarray:
    """An RGB page warped by the affine ``m``, directly (``rgb``) or through RGBA (``rgba``)."""
    if way == "rgba":
        out = cv2.warpAffine(cv2.cvtColor(image, cv2.COLOR_RGB2RGBA), m, size, flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=(*fill[:3], 255))
        return cv2.cvtColor(out, cv2.COLOR_RGBA2RGB)
    return cv2.warpAffine(image, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=tuple(fill[:3]))


def rotate_quarter(image: np.ndarray, degrees: int) -> np.ndarray:
    """Turn by a multiple of 90° counter-clockwise (lossless)."""
    k = (degrees // 90) % 4
    return np.ascontiguousarray(np.rot90(image, k)) if k else image
