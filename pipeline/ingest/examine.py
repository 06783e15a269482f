"""Examine one file: identify it, digest it, decode every page once, measure each page for QC.

This runs inside a bounded child process (``sandbox.run_bounded``): everything a hostile file can
reach happens here. Born-digital PDF pages carry their own text, which is kept instead of OCR.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from pipeline.errors import CorruptFile, UnsupportedFormat
from pipeline.ingest.fixity import Digests, digest_file
from pipeline.ingest.identify import PDF, RASTER, FileFormat, identify
from pipeline.ingest.pages import PageFacts, image_dpi, load_frame, open_image, open_pdf
from pipeline.qc.metrics import REFERENCE_DPI, PageMetrics, measure

# A PDF page with at least this many characters of text and no image covering half the page is
# born digital: its text layer is the text, not something to OCR.
BORN_DIGITAL_MIN_CHARS = 10


@dataclass(frozen=True)
class ExaminedPage:
    facts: PageFacts
    compression: str
    metrics: PageMetrics | None
    text: str | None = None  # born-digital text layer


@dataclass(frozen=True)
class ExaminedFile:
    format: FileFormat
    digests: Digests
    pages: tuple[ExaminedPage, ...] = field(default=())


_COMPRESSION = {"jpeg": "jpeg", "png": "deflate", "jp2": "jpeg2000"}


def _grey(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("L"))


def _raster(path: Path, fmt: FileFormat, max_pixels: int, max_pages: int, qc: bool) -> list[ExaminedPage]:
    img = open_image(path, max_pixels)
    pages = []
    try:
        n = getattr(img, "n_frames", 1)
        if n > max_pages:
            raise CorruptFile(path, f"{n} pages, above the limit of {max_pages}")
        for i in range(n):
            try:
                img.seek(i)
            except (OSError, EOFError, ValueError) as exc:
                raise CorruptFile(path, f"page {i + 1} cannot be read: {exc}") from exc
            load_frame(img, path, i, max_pixels)
            dpi = image_dpi(img)
            compression = str(img.info.get("compression") or _COMPRESSION.get(fmt.name, "unknown"))
            facts = PageFacts(i, img.size[0], img.size[1], dpi, img.mode)
            metrics = measure(_grey(img), dpi) if qc else None
            pages.append(ExaminedPage(facts, compression, metrics))
    finally:
        img.close()
    return pages


def _pdf_pages(path: Path, max_pixels: int, max_pages: int, qc: bool) -> list[ExaminedPage]:
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    doc = open_pdf(path)
    pages = []
    try:
        n = len(doc)
        if n == 0:
            raise CorruptFile(path, "the PDF has no pages")
        if n > max_pages:
            raise CorruptFile(path, f"{n} pages, above the limit of {max_pages}")
        for i in range(n):
            page = doc[i]
            w_pt, h_pt = page.get_size()
            text = page.get_textpage().get_text_bounded().strip()
            dpi, covered, compression = None, 0.0, "none"
            for obj in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,)):
                left, bottom, right, top = obj.get_bounds()
                area = max(0.0, right - left) * max(0.0, top - bottom)
                if area / (w_pt * h_pt) > covered:
                    covered = area / (w_pt * h_pt)
                    px_w, _ = obj.get_px_size()
                    dpi = round(px_w / max(right - left, 1e-6) * 72, 1)
                    filters = obj.get_filters()
                    compression = filters[-1] if filters else "raw"
            born_digital = len(text) >= BORN_DIGITAL_MIN_CHARS and covered < 0.5
            metrics = None
            if qc:
                scale = REFERENCE_DPI / 72
                if w_pt * h_pt * scale * scale > max_pixels:
                    raise CorruptFile(path, f"page {i + 1} is too large to render ({w_pt:.0f}x{h_pt:.0f} pt)")
                bitmap = page.render(scale=scale, grayscale=True).to_pil()
                metrics = measure(_grey(bitmap), REFERENCE_DPI)
            facts = PageFacts(i, round(w_pt), round(h_pt), dpi, "pdf")
            pages.append(ExaminedPage(facts, compression, metrics, text if born_digital else None))
    except pdfium.PdfiumError as exc:
        raise CorruptFile(path, f"PDF page cannot be read: {exc}") from exc
    finally:
        doc.close()
    return pages


def examine_file(path: Path, max_pixels: int, max_pages: int, qc: bool = True) -> ExaminedFile:
    fmt = identify(path)
    if fmt.media == "av":
        pages: list[ExaminedPage] = []
    elif fmt == PDF:
        pages = _pdf_pages(path, max_pixels, max_pages, qc)
    elif fmt.name in RASTER:
        pages = _raster(path, fmt, max_pixels, max_pages, qc)
    else:
        raise UnsupportedFormat(path, f"{fmt.name} is not supported")
    # Digest last: a file that cannot be decoded fails before the slow part.
    return ExaminedFile(fmt, digest_file(path), tuple(pages))
