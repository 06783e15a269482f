"""OCR of loose files (``dangan ocr``): images or PDFs outside a batch, no store, no 档号."""

from __future__ import annotations

from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

from pipeline.config import Settings
from pipeline.digitise import review_reason
from pipeline.errors import InputFileError, UnsupportedFormat
from pipeline.export import FORMATS, WRITERS, PdfPage, WritePDF
from pipeline.export.writers import atomic_write
from pipeline.ingest.identify import PDF, RASTER, identify
from pipeline.ingest.pages import iter_pages
from pipeline.ocr.recognise import PageRecogniser


@dataclass
class FileResult:
    text: str
    paths: list[Path] = field(default_factory=list)
    review: list[tuple[int, str]] = field(default_factory=list)


def ocr_file(path: Path, settings: Settings, fmt: str = "txt", output_dir: Path | None = None,
             recogniser: PageRecogniser | None = None) -> FileResult:
    if not path.is_file():
        raise InputFileError(path, "no such file")
    kind = identify(path)
    if kind.name not in RASTER and kind.name != PDF.name:
        raise UnsupportedFormat(path, f"{kind.name} is not an image or a PDF")
    recogniser = recogniser or PageRecogniser(settings)
    pages, pdf_pages = [], []
    for image in iter_pages(path, kind, settings.limits.max_image_pixels, settings.ocr.pdf_render_dpi):
        rec = recogniser(image)
        pages.append(rec.page)
        if fmt in ("pdf", "all"):
            buf = BytesIO()
            dpi = rec.image.info.get("dpi", (300, 300))
            rec.image.save(buf, "JPEG", quality=85, dpi=dpi)
            pdf_pages.append(PdfPage(rec.page, buf.getvalue(), float(dpi[0] or 300), rec.image.mode == "L"))
    result = FileResult("\f".join(p.text + "\n" for p in pages))
    result.review = [(n, r) for n, p in enumerate(pages, 1) if (r := review_reason(p, settings))]
    if output_dir is None:
        return result
    meta = {"source": str(path)}
    for name in (FORMATS if fmt == "all" else (fmt,)):
        if name == "pdf":
            result.paths.append(WritePDF().write(pdf_pages, output_dir / f"{path.stem}.pdf", title=path.stem))
            continue
        writer = WRITERS[name]()
        out = output_dir / f"{path.stem}.{writer.extension}"
        data = writer.render(pages[0], meta) if len(pages) == 1 else writer.render_document(pages, meta)
        atomic_write(out, data)
        result.paths.append(out)
    return result
