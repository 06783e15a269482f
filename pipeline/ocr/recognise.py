"""Recognise one page: preprocessing, orientation, the engine call (routed by layout), reading order."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass

import numpy as np
from PIL import Image

from pipeline.config import Settings
from pipeline.ocr.engines.base import OcrEngine, engine_signature, shared_engine, with_engine
from pipeline.ocr.heap import keep_page_buffers
from pipeline.ocr.layout import reading_order
from pipeline.ocr.punctuation import restore_lines
from pipeline.ocr.script import unify
from pipeline.ocr.types import PageText
from pipeline.preprocess import Prepared, prepare_page

__all__ = ["PageRecogniser", "Recognised", "ocr_signature", "reading_order", "recognise_page"]


def ocr_signature(settings: Settings) -> str:
    """What makes a page's text: engine(s), their models and parameters, and the preprocessing.

    A page recognised under the same signature from the same bytes is finished.
    """
    parts = {"engine": engine_signature(settings), "preprocess": settings.preprocess.model_dump(),
             "unify_script": settings.ocr.unify_script}
    if settings.ocr.vertical_engine and settings.ocr.vertical_engine != settings.ocr.engine:
        parts["vertical"] = engine_signature(with_engine(settings, settings.ocr.vertical_engine))
    blob = json.dumps(parts, sort_keys=True).encode()
    return f"{engine_signature(settings)}+{hashlib.sha256(blob).hexdigest()[:8]}"


@dataclass
class Recognised:
    page: PageText
    image: Image.Image  # the upright derivative the boxes refer to (the access copy)


class PageRecogniser:
    """The configured engine, the engine for vertical pages, and the preprocessing, as one call."""

    def __init__(self, settings: Settings, engine: OcrEngine | None = None, vertical_engine: OcrEngine | None = None):
        self.settings = settings
        keep_page_buffers()  # this process reads pages: their buffers are reused, not re-mapped
        self.engine = engine or shared_engine(settings)
        name = settings.ocr.vertical_engine
        if vertical_engine is None and name and name != settings.ocr.engine:
            vertical_engine = shared_engine(with_engine(settings, name))
        self.vertical_engine = vertical_engine or self.engine

    def signature(self) -> str:
        if not hasattr(self, "_signature"):
            self._signature = ocr_signature(self.settings)
        return self._signature

    def __call__(self, image: Image.Image) -> Recognised:
        t0 = time.perf_counter()
        # convert() copies even to the same mode: a page already RGB or L is read as it is.
        arr = np.asarray(image if image.mode in ("L", "RGB") else
                         image.convert("L") if image.mode == "1" else image.convert("RGB"))
        dpi = float((image.info.get("dpi") or (300, 300))[0] or 300)  # TIFF gives a Fraction
        read_vertical = self.vertical_engine is self.engine

        def orient(img: np.ndarray, rows):
            return self.engine.get_orientation(img, read_vertical=read_vertical, rows=rows)

        prepared: Prepared = prepare_page(arr, self.settings.preprocess, dpi, orient=orient)
        engine = self.vertical_engine if prepared.vertical else self.engine
        t1 = time.perf_counter()
        source = prepared.ocr_image if engine.reads_cleaned else prepared.image
        own = engine is self.engine
        if own and prepared.orientation.lines is not None:  # read while finding the orientation
            lines = [ln for ln in prepared.orientation.lines if ln.text.strip()]
            engine_s = next(s.seconds for s in prepared.steps if s.name == "orientation")
        else:
            boxes = prepared.orientation.boxes if own else None
            lines = [ln for ln in engine.recognise(source, vertical=prepared.vertical, boxes=boxes,
                                                   rows=prepared.text_rows) if ln.text.strip()]
            engine_s = time.perf_counter() - t1
        lines = restore_lines(reading_order(lines, prepared.vertical))
        script = None
        if self.settings.ocr.unify_script:
            lines, script = unify(lines)
        h, w = prepared.image.shape[:2]
        page = PageText(
            lines=tuple(lines),
            width=w,
            height=h,
            engine=self.signature(),
            seconds=engine_s,
            meta={"vertical": prepared.vertical, "script": script, "engine_name": engine.name,
                  "preprocess": prepared.record(),
                  "seconds_total": round(time.perf_counter() - t0, 3)},
        )
        out = Image.fromarray(prepared.image)
        out.info["dpi"] = image.info.get("dpi", (dpi, dpi))
        return Recognised(page, out)


def recognise_page(engine: OcrEngine, image: Image.Image, settings: Settings | None = None) -> PageText:
    """Recognise one page with ``engine`` (preprocessing from ``settings``, the engine's by default)."""
    return PageRecogniser(settings or engine.settings, engine)(image).page
