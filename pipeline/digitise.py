"""The digitisation stages as plain functions: ingest a batch (with QC), recognise its pages.

Flows (``flows/``) and the tests call these; nothing here knows about Prefect.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

import PIL

from pipeline import __version__
from pipeline.config import Settings
from pipeline.errors import InputFileError
from pipeline.export import get_writer
from pipeline.export.writers import atomic_write
from pipeline.ingest import Failure, PageRef, scan_batch
from pipeline.ingest.fixity import digest_bytes, digest_file
from pipeline.ingest.pages import load_page
from pipeline.ocr.engines import OcrEngine
from pipeline.ocr.recognise import recognise_page
from pipeline.ocr.types import OcrLine, PageText
from pipeline.qc.report import QcReport, write_reports
from pipeline.qc.rules import check_batch, check_page, reconcile
from pipeline.qc.sample import draw_sample
from pipeline.refcode import RefCode
from pipeline.speech.stage import AvRef, av_refs
from pipeline.store import SQLiteStore

log = logging.getLogger(__name__)

# A born-digital page is "recognised" by reading its own text layer; this is its engine signature.
PDF_TEXT_SIGNATURE = "pdf-text:1"


@dataclass
class IngestResult:
    batch: str
    files: int
    files_new: int
    items: int
    pages: list[PageRef]
    failures: list[Failure]
    report: QcReport | None = None
    blocked: list[PageRef] = field(default_factory=list)  # QC errors with qc.block_recognition on
    recordings: list[AvRef] = field(default_factory=list)  # audio and video, for the speech stage


@dataclass
class OcrResult:
    done: int = 0
    skipped: int = 0
    failures: list[Failure] = field(default_factory=list)
    engine_seconds: float = 0.0
    total_seconds: float = 0.0


def pdfium_version() -> str:
    from importlib.metadata import version

    return version("pypdfium2")


def batch_id(batch: str) -> str:
    """A folder name for a batch's reports: readable, and unique per batch path."""
    p = Path(batch)
    return f"{p.name}-{hashlib.sha256(batch.encode()).hexdigest()[:8]}"


def ingest_batch(batch_dir: Path, settings: Settings, store: SQLiteStore, run_id: str | None = None,
                 report_dir: Path | None = None) -> IngestResult:
    """Examine, QC and record a batch; write its QC and reconciliation reports."""
    inv = scan_batch(batch_dir, settings)
    batch = str(inv.batch_dir)
    qc = settings.qc
    catalogued = inv.catalogue.by_refcode()
    for row in inv.catalogue.rows:
        store.upsert_item(row, batch)
    new = 0
    for f in inv.files:
        if f.refcode not in catalogued:
            ref = RefCode.parse(f.refcode)
            store.ensure_item(f.refcode, ref.fonds, ref.year, batch)
        new += store.upsert_file(f, batch, run_id)

    findings = check_batch(inv, qc)
    blocked = []
    numbered = inv.numbered_pages()
    for ref, page in numbered:
        page_findings = check_page(ref, page, qc)
        findings += page_findings
        severities = {f.severity for f in page_findings}
        state = "error" if "error" in severities else "warning" if severities else "pass"
        facts = {"format": ref.format.name, "compression": page.compression, "mode": page.facts.mode,
                 "width": page.facts.width, "height": page.facts.height, "dpi": page.facts.dpi,
                 "metrics": page.metrics.as_dict() if page.metrics else None}
        store.upsert_page_source(ref, batch, facts, state)
        if state == "error" and qc.block_recognition:
            blocked.append(ref)
    store.replace_findings(batch, findings, run_id)
    for failure in inv.failures:
        store.record_failure(batch, failure, run_id)

    pages = [ref for ref, _ in numbered]
    sample = draw_sample(pages, qc.sample_ratio, batch + "".join(sorted(f.sha256 for f in inv.files)))
    folder = report_dir or settings.out_dir / "reports" / batch_id(batch)
    report = write_reports(folder, inv, findings, reconcile(inv), sample, qc.pass_gate)
    items = len({f.refcode for f in inv.files})
    return IngestResult(batch, len(inv.files), new, items, pages, inv.failures, report, blocked,
                        av_refs(inv.files, batch))


def signature_for(ref: PageRef, engine_signature: str) -> str:
    return PDF_TEXT_SIGNATURE if ref.text is not None else engine_signature


def pending_pages(pages: list[PageRef], store: SQLiteStore, engine_signature: str) -> list[PageRef]:
    """Pages not yet recognised from these exact bytes by this exact engine configuration."""
    return [p for p in pages
            if not store.page_done(p.refcode, p.page_no, p.file_sha256, signature_for(p, engine_signature))]


def page_stem(settings: Settings, ref: PageRef) -> Path:
    return settings.out_dir / ref.refcode / f"page-{ref.page_no:04d}"


def _pdf_text_page(ref: PageRef, width: int, height: int) -> PageText:
    """A born-digital page's own text, one line per text line (no per-line boxes)."""
    lines = tuple(OcrLine(t.strip(), 1.0, ((0, 0), (width, 0), (width, height), (0, height)))
                  for t in ref.text.splitlines() if t.strip())
    return PageText(lines, width, height, PDF_TEXT_SIGNATURE)


def recognise_pages(pages: list[PageRef], settings: Settings, store: SQLiteStore, engine: OcrEngine,
                    batch: str, run_id: str | None = None) -> OcrResult:
    result = OcrResult()
    write = get_writer("all")
    t_start = time.perf_counter()
    signature = engine.signature()
    made_by = {
        signature: (f"dangan {__version__} ocr {signature}", engine.describe(settings)),
        PDF_TEXT_SIGNATURE: (f"dangan {__version__} pdf-text via pypdfium2 {pdfium_version()}", {}),
    }
    for ref in pages:
        sig = signature_for(ref, signature)
        if store.page_done(ref.refcode, ref.page_no, ref.file_sha256, sig):
            result.skipped += 1
            continue
        try:
            image = load_page(ref.path, ref.format, ref.index, settings.limits.max_image_pixels,
                              settings.ocr.pdf_render_dpi)
            if ref.text is not None:
                page = _pdf_text_page(ref, *image.size)
            else:
                page = recognise_page(engine, image)
                result.engine_seconds += page.seconds
            stem = page_stem(settings, ref)
            # Access copy of the page: what search results and the web page show.
            image_path = stem.with_name(stem.name + ".jpg")
            buf = BytesIO()
            image.save(buf, "JPEG", quality=85, dpi=image.info.get("dpi", (300, 300)))
            atomic_write(image_path, buf.getvalue())
            meta = {"refcode": ref.refcode, "page": ref.page_no, "source": ref.relpath,
                    "source_sha256": ref.file_sha256, "source_page_index": ref.index, "image": str(image_path),
                    "text_source": "pdf-text" if ref.text is not None else "ocr"}
            outputs = write(page, meta, stem)
            store.save_page_text(ref, page, str(image_path), batch, run_id)
            store.record_derivative(str(image_path), ref.refcode, ref.page_no, "access-image",
                                    digest_bytes(buf.getvalue()), ref.file_sha256, f"Pillow {PIL.__version__}",
                                    {"format": "JPEG", "quality": 85, "pdf_render_dpi": settings.ocr.pdf_render_dpi}, run_id)
            tool, params = made_by[sig]
            for out in outputs:
                store.record_derivative(str(out), ref.refcode, ref.page_no, out.suffix.lstrip("."),
                                        digest_file(out), ref.file_sha256, tool, params, run_id)
            result.done += 1
        except InputFileError as exc:
            failure = Failure(ref.relpath, exc.kind, exc.reason, "ocr", ref.refcode, ref.page_no)
        except Exception as exc:  # an engine crash fails this page, not the batch
            log.exception("OCR failed on %s page %d", ref.refcode, ref.page_no)
            failure = Failure(ref.relpath, "ocr-failed", f"{type(exc).__name__}: {exc}", "ocr", ref.refcode, ref.page_no)
        else:
            continue
        store.mark_page_failed(ref, failure.reason)
        store.record_failure(batch, failure, run_id)
        result.failures.append(failure)
    result.total_seconds = time.perf_counter() - t_start
    return result
