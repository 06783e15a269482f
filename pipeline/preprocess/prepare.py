"""The preprocessing stage: one page image in, its upright clean derivatives and the record out.

Order matters: dark borders go first (they would dominate the skew and background estimates),
then the skew, then the photometric steps (they change no geometry, so OCR boxes fit both
derivatives), then the quarter turn, found by the engine on the cleaned page: its text boxes
are then the ones recognition uses, found once.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace

import numpy as np

from pipeline.config import PreprocessSettings
from pipeline.ocr.types import Orientation
from pipeline.preprocess import clean, geometry

log = logging.getLogger(__name__)


@dataclass
class Step:
    name: str
    params: dict = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {"step": self.name, **self.params, "seconds": round(self.seconds, 3)}


@dataclass
class Prepared:
    image: np.ndarray  # upright, deskewed, cropped colour page: the access copy, boxes refer to it
    ocr_image: np.ndarray  # the same geometry, cleaned (and binarised if configured): what OCR reads
    steps: list[Step]
    orientation: Orientation
    # The rows [y0, y1) of ``ocr_image`` that hold more than paper (None: all of them, or unknown).
    text_rows: tuple[int, int] | None = None

    @property
    def vertical(self) -> bool:
        return self.orientation.vertical

    def record(self) -> list[dict]:
        return [s.as_dict() for s in self.steps]


def prepare_page(image: np.ndarray, cfg: PreprocessSettings, dpi: float | None = None,
                 orient=None) -> Prepared:
    """Run the enabled steps on ``image`` (a copy; the caller's array is never changed).

    ``orient``: a callable (image, rows) -> Orientation (an engine's ``get_orientation``, ``rows``
    the page's text rows or None); without it the page is taken as upright and horizontal.
    """
    dpi = dpi or 300
    steps: list[Step] = []
    orientation = Orientation()
    img = image
    if not cfg.enabled:
        return Prepared(img, img, steps, orientation)

    # The page's statistics (paper level, skew, background, levels) come from one grey sample
    # of every n-th pixel, about 1,000 px long, kept in step with the page's geometry; borders
    # are then found exactly, at full size along the edges. No full-page grey copy is made:
    # colour is kept for the paper colour a rotation fills in and where a stained page's
    # background is divided out, channel by channel.
    small, factor = geometry.sample(img)
    if cfg.border_crop:
        t = time.perf_counter()
        x0, y0, x1, y1 = geometry.find_border(img, small=(small, factor))
        if (x0, y0, x1, y1) != (0, 0, img.shape[1], img.shape[0]):
            img = img[y0:y1, x0:x1]
            small, factor = geometry.sample(img)
            steps.append(Step("border_crop", {"box": [x0, y0, x1, y1]}, time.perf_counter() - t))

    window = int(dpi / 2)
    rows, rows_step = None, None  # the text rows, where the levels tell paper from the rest
    bg = None  # the sample's background, once estimated
    if cfg.deskew:
        t = time.perf_counter()
        # Measured on the sample with its background divided out: on stained or faded paper
        # Otsu's ink mask is the stains, whose profile peaks at any angle (false skews of 4-10°
        # on 3 of 12 noisy bench pages, each then read in the wrong order).
        bg = clean.background(small, factor, window)
        angle, strength = geometry.measure_skew(clean.flatten_background(small, window, bg), cfg.deskew_max_angle)
        angle = float(angle)
        applied = abs(angle) >= cfg.deskew_min_angle
        if applied:
            img = geometry.rotate(img, -angle, geometry.paper_colour(img))  # turn the skew back
            small, factor = geometry.sample(img)
            bg = None
        steps.append(Step("deskew", {"angle": round(angle, 2), "strength": round(float(strength), 2), "applied": applied},
                          time.perf_counter() - t))

    ocr_img = img
    if cfg.clean_background:
        t = time.perf_counter()
        if bg is None:
            bg = clean.background(small, factor, window)
        uneven = clean.unevenness(bg)
        # Dividing out a flat background changes nothing the levels below do not: skip the
        # full-page division on clean paper (most pages), do it on stained or unevenly lit ones.
        flatten = uneven > cfg.flatten_min_unevenness
        levels_from = small
        if flatten:
            colour = ocr_img.ndim == 3
            ocr_img = clean.flatten_background(ocr_img, window, None if colour else bg)
            levels_from, _ = geometry.sample(ocr_img)
        ocr_img, black, white = clean.stretch_contrast(ocr_img, sample=levels_from)
        if cfg.text_rows and white < 255:
            # What the levels turned to paper is paper to the detector too: the rows with anything
            # darker than the white point (seals, specks and marginal notes included) are the text's.
            rows = geometry.text_rows(levels_from, factor, white, ocr_img.shape[0])
        steps.append(Step("clean_background", {"window_px": window | 1, "unevenness": round(uneven, 3),
                                               "flattened": flatten, "black_level": round(black, 1),
                                               "white_level": round(white, 1)}, time.perf_counter() - t))
        if rows is not None:
            rows_step = Step("text_rows", {"rows": list(rows), "fraction": round((rows[1] - rows[0]) / ocr_img.shape[0], 3)})
            steps.append(rows_step)
    if cfg.mask_seals:
        t = time.perf_counter()
        # The OCR copy is masked in place where it is this step's own (made by the levels), not
        # the access copy or the caller's page: a page-sized copy saved.
        ocr_img, seals = clean.mask_seals(ocr_img, dpi, in_place=ocr_img is not img and ocr_img is not image)
        steps.append(Step("mask_seals", {"seals": [list(b) for b in seals]}, time.perf_counter() - t))
    if cfg.despeckle:
        # Only a dusty page is filtered: a median also rounds the corners of clean strokes.
        t = time.perf_counter()
        density = clean.speck_density(ocr_img, dpi)
        applied = density >= cfg.despeckle_min_specks
        if applied:
            ocr_img = clean.despeckle(ocr_img, 3)
        steps.append(Step("despeckle", {"median": 3, "specks_per_sq_inch": round(density, 1), "applied": applied},
                          time.perf_counter() - t))
    if cfg.orientation and orient is not None:
        t = time.perf_counter()
        orientation = orient(ocr_img, rows)
        if cfg.binarise:  # the engine will read the binarised page, not the one it probed
            orientation = replace(orientation, lines=None)
        if orientation.angle:
            h = ocr_img.shape[0]
            # Turned half round, the rows are the same rows counted from the other edge; a quarter
            # turn makes them columns, and the detector reads the whole page (rare).
            rows = (h - rows[1], h - rows[0]) if rows and orientation.angle == 180 else None
            if rows_step is not None:
                rows_step.params["rows"] = list(rows) if rows else None
            img = geometry.rotate_quarter(img, orientation.angle)
            ocr_img = geometry.rotate_quarter(ocr_img, orientation.angle)
        steps.append(Step("orientation", {"angle": orientation.angle, "vertical": orientation.vertical,
                                          "scores": orientation.scores}, time.perf_counter() - t))

    if cfg.binarise:
        t = time.perf_counter()
        block = int(dpi / 6) | 1
        ocr_img = clean.binarise(ocr_img, block)
        steps.append(Step("binarise", {"method": "adaptive-gaussian", "block_px": block, "c": 15},
                          time.perf_counter() - t))
    return Prepared(np.ascontiguousarray(img), np.ascontiguousarray(ocr_img), steps, orientation, rows)
