"""Open the pages of a scan: multi-page TIFF frames and PDF pages become numbered page images.

Pillow's decompression-bomb guard is set from the configured pixel limit and turned into an
error, so a file that declares a huge size fails alone instead of exhausting memory.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageFile, UnidentifiedImageError

from pipeline.errors import CorruptFile
from pipeline.ingest.identify import PDF, FileFormat

# Truncated data is an error, not a grey half-page.
ImageFile.LOAD_TRUNCATED_IMAGES = False


@dataclass(frozen=True)
class PageFacts:
    index: int  # 0-based position within its file
    width: int
    height: int
    dpi: float | None  # None when the file records none
    mode: str  # Pillow mode: 1, L, RGB, ...


def open_image(path: Path, max_pixels: int) -> Image.Image:
    Image.MAX_IMAGE_PIXELS = max_pixels // 2  # Pillow raises at twice this value
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise CorruptFile(path, f"image declares more than {max_pixels:,} pixels (a decompression bomb?): {exc}")
    except UnidentifiedImageError as exc:
        raise CorruptFile(path, f"not a readable image: {exc}") from exc


def load_frame(img: Image.Image, path: Path, frame: int, max_pixels: int) -> None:
    w, h = img.size
    if w * h > max_pixels:
        raise CorruptFile(path, f"page {frame + 1} is {w}x{h} pixels, above the limit of {max_pixels:,}")
    try:
        img.load()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise CorruptFile(path, f"page {frame + 1}: image data is truncated or corrupt ({exc})") from exc


def image_dpi(img: Image.Image) -> float | None:
    dpi = img.info.get("dpi")
    if dpi and dpi[0]:
        return round(float(dpi[0]), 1)
    return None


def open_pdf(path: Path):
    import pypdfium2 as pdfium

    try:
        return pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        reason = str(exc)
        if "password" in reason.lower():
            reason = "the PDF is encrypted; ask the supplier for an unprotected copy"
        raise CorruptFile(path, f"PDF cannot be opened: {reason}") from exc


def load_page(path: Path, fmt: FileFormat, index: int, max_pixels: int, pdf_dpi: int = 300) -> Image.Image:
    """Decode one page as an RGB or L image."""
    if fmt == PDF:
        doc = open_pdf(path)
        try:
            page = doc[index]
            w, h = page.get_size()
            scale = pdf_dpi / 72
            if w * h * scale * scale > max_pixels:
                raise CorruptFile(path, f"page {index + 1} would render above {max_pixels:,} pixels")
            img = page.render(scale=scale).to_pil()
            img.info["dpi"] = (pdf_dpi, pdf_dpi)
            return img
        finally:
            doc.close()
    img = open_image(path, max_pixels)
    try:
        img.seek(index)
        load_frame(img, path, index, max_pixels)
        dpi = img.info.get("dpi")
        out = img.convert("L" if img.mode in ("1", "L", "I;16", "I") else "RGB")
        if dpi:
            out.info["dpi"] = dpi
        return out
    finally:
        img.close()


def page_count(path: Path, fmt: FileFormat, max_pixels: int) -> int:
    if fmt == PDF:
        doc = open_pdf(path)
        try:
            return len(doc)
        finally:
            doc.close()
    img = open_image(path, max_pixels)
    try:
        return getattr(img, "n_frames", 1)
    finally:
        img.close()


def iter_pages(path: Path, fmt: FileFormat, max_pixels: int, pdf_dpi: int = 300):
    """Every page of a loose file (``dangan ocr``), decoded one at a time."""
    for i in range(page_count(path, fmt, max_pixels)):
        yield load_page(path, fmt, i, max_pixels, pdf_dpi)
