"""Output files. Each writer knows one format; ``get_writer("all")`` writes every page format.

Page formats (txt, json, hocr, alto) render one page or, for ``dangan ocr`` on a multi-page
file, a document of pages; the 双层PDF (``pdf``) is written per item from its page images.

Files are written to a temporary name and renamed, so a crash never leaves half a file that a
re-run would take for finished work.
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path

from pipeline.export.alto import render_alto
from pipeline.export.hocr import render_hocr
from pipeline.export.pdf import PdfPage, render_pdf
from pipeline.index.text import simplified
from pipeline.ocr.types import PageText


def atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


class PageWriter(ABC):
    extension: str

    @abstractmethod
    def render(self, page: PageText, meta: dict) -> bytes: ...

    def render_document(self, pages: list[PageText], meta: dict) -> bytes:
        """Several pages in one file (form feeds between text pages, like tesseract's txt)."""
        return b"\f".join(self.render(p, meta) for p in pages)

    def write(self, page: PageText, meta: dict, stem: Path) -> Path:
        path = stem.with_name(f"{stem.name}.{self.extension}")
        atomic_write(path, self.render(page, meta))
        return path


class WriteTXT(PageWriter):
    extension = "txt"

    def render(self, page: PageText, meta: dict) -> bytes:
        return (page.text + "\n").encode("utf-8") if page.lines else b""


class WriteJSON(PageWriter):
    extension = "json"

    def render(self, page: PageText, meta: dict) -> bytes:
        doc = {
            **meta,
            "width": page.width,
            "height": page.height,
            "engine": page.engine,
            "mean_confidence": page.mean_confidence,
            "vertical": page.vertical,
            "script": page.meta.get("script"),
            "preprocess": page.meta.get("preprocess", []),
            "text": page.text,
            **({"text_simplified": t} if (t := simplified(page.text)) != page.text else {}),
            "lines": [
                {"index": i, "text": ln.text, "confidence": round(ln.confidence, 4),
                 "bbox": list(ln.bbox), "polygon": [list(p) for p in ln.box]}
                for i, ln in enumerate(page.lines)
            ],
        }
        return json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8")


    def render_document(self, pages: list[PageText], meta: dict) -> bytes:
        docs = [json.loads(self.render(p, {**meta, "page": i})) for i, p in enumerate(pages, 1)]
        return json.dumps({**meta, "pages": docs}, ensure_ascii=False, indent=1).encode("utf-8")


class WriteHOCR(PageWriter):
    extension = "hocr"

    def render(self, page: PageText, meta: dict) -> bytes:
        return render_hocr([page], meta)

    def render_document(self, pages: list[PageText], meta: dict) -> bytes:
        return render_hocr(pages, meta)


class WriteALTO(PageWriter):
    extension = "alto.xml"

    def render(self, page: PageText, meta: dict) -> bytes:
        return render_alto([page], meta)

    def render_document(self, pages: list[PageText], meta: dict) -> bytes:
        return render_alto(pages, meta)


class WritePDF:
    """The searchable 双层PDF of an item: its page images under an invisible text layer."""

    extension = "pdf"

    def render(self, pages: list[PdfPage], title: str = "") -> bytes:
        return render_pdf(pages, title)

    def write(self, pages: list[PdfPage], path: Path, title: str = "") -> Path:
        atomic_write(path, self.render(pages, title))
        return path


WRITERS: dict[str, type[PageWriter]] = {"txt": WriteTXT, "json": WriteJSON, "hocr": WriteHOCR, "alto": WriteALTO}
FORMATS = (*WRITERS, "pdf")


def get_writer(fmt: str) -> Callable[[PageText, dict, Path], list[Path]]:
    names = list(WRITERS) if fmt == "all" else [fmt]
    unknown = [n for n in names if n not in WRITERS]
    if unknown:
        raise ValueError(f"unknown output format {unknown[0]!r}; choose from {', '.join(WRITERS)} or all")
    writers = [WRITERS[n]() for n in names]

    def write_all(page: PageText, meta: dict, stem: Path) -> list[Path]:
        return [w.write(page, meta, stem) for w in writers]

    return write_all
