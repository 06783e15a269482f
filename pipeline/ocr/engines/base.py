"""The ``OcrEngine`` interface (after OCRmyPDF's ``OcrEngine`` plugin spec) and its registry."""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from importlib.metadata import entry_points
from typing import ClassVar

import numpy as np

from pipeline.config import Settings
from pipeline.errors import ConfigError
from pipeline.ocr.types import OcrLine, Orientation

_REGISTRY: dict[str, type[OcrEngine]] = {}


class OcrEngine(ABC):
    name: ClassVar[str]
    # Whether the engine reads dangan's cleaned page (background flattened, specks removed) or
    # the plain upright page: Tesseract binarises itself and finds no text on flattened pages.
    reads_cleaned: ClassVar[bool] = True

    def __init__(self, settings: Settings):
        self.settings = settings

    @abstractmethod
    def recognise(self, image: np.ndarray, vertical: bool = False, boxes: list | None = None,
                  rows: tuple[int, int] | None = None) -> list[OcrLine]:
        """Lines found on one upright page image (H x W x 3 RGB or H x W grey, uint8), in any order.

        ``vertical``: the page is set in columns (竖排), as ``get_orientation`` found.
        ``boxes``: text boxes this engine's ``get_orientation`` found on the page, to reuse.
        ``rows``: the page's rows [y0, y1) that hold more than paper (preprocessing's
        ``text_rows``): an engine may look for text only there; None: anywhere.
        """

    def get_orientation(self, image: np.ndarray, read_vertical: bool = True,
                        rows: tuple[int, int] | None = None) -> Orientation:
        """How the page lies (after OCRmyPDF's ``get_orientation``). Engines that cannot tell say 0.

        An engine may hand on the lines it read on the way (``Orientation.lines``);
        ``read_vertical=False``: a vertical page's lines would not be used (another engine reads
        vertical pages), so reading them is wasted. ``rows``: as for ``recognise``.
        """
        return Orientation()

    @classmethod
    @abstractmethod
    def describe(cls, settings: Settings) -> dict:
        """Engine name, version, models (with digests) and parameters: what made the output.

        A classmethod so a re-run can tell which pages are finished without loading the engine.
        """

    @classmethod
    def signature_for(cls, settings: Settings) -> str:
        """A short stable hash of ``describe()``: a page OCR'd under the same signature is done."""
        blob = json.dumps(cls.describe(settings), sort_keys=True, ensure_ascii=False).encode()
        return f"{cls.name}:{hashlib.sha256(blob).hexdigest()[:16]}"

    def signature(self) -> str:
        if not hasattr(self, "_signature"):
            self._signature = self.signature_for(self.settings)
        return self._signature


def register(cls: type[OcrEngine]) -> type[OcrEngine]:
    _REGISTRY[cls.name] = cls
    return cls


def _load_builtin() -> None:
    from pipeline.ocr.engines import paddle, rapid, tesseract  # noqa: F401  (they register themselves)

    for ep in entry_points(group="dangan.ocr_engines"):
        register(ep.load())


def available_engines() -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY)


def engine_class(settings: Settings) -> type[OcrEngine]:
    _load_builtin()
    name = settings.ocr.engine
    if name not in _REGISTRY:
        raise ConfigError(f"unknown OCR engine {name!r}; available: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def engine_signature(settings: Settings) -> str:
    return engine_class(settings).signature_for(settings)


def create_engine(settings: Settings) -> OcrEngine:
    return engine_class(settings)(settings)


def with_engine(settings: Settings, name: str) -> Settings:
    """The same settings with another engine (for routing vertical pages)."""
    return settings.model_copy(update={"ocr": settings.ocr.model_copy(update={"engine": name})})


_SHARED: dict[str, OcrEngine] = {}


def shared_engine(settings: Settings) -> OcrEngine:
    """One engine per process and configuration, reused by every task the process runs.

    Loading models takes seconds and hundreds of MB; data paths do not affect recognition, so the
    key is the engine signature alone.
    """
    key = engine_signature(settings)
    if key not in _SHARED:
        _SHARED[key] = create_engine(settings)
    return _SHARED[key]
