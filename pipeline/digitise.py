"""The digitisation stages as plain functions: ingest a batch (with QC), recognise its pages.

Flows (``flows/``) and the tests call these; nothing here knows about Prefect.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

import PIL

from pipeline import __version__
from pipeline.config import Settings
from pipeline.errors import InputFileError
from pipeline.export import PdfPage, WritePDF, get_writer
from pipeline.export.writers import atomic_write
from pipeline.ingest import Failure, PageRef, scan_batch
from pipeline.ingest.fixity import digest_bytes, digest_file
from pipeline.ingest.pages import load_page
from pipeline.ocr.engines import OcrEngine
from pipeline.ocr.recognise import PageRecogniser, Recognised, ocr_signature
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
    review: list[dict] = field(default_factory=list)  # pages below the confidence threshold
    items: set[str] = field(default_factory=set)  # 档号 of items with pages recognised


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


def review_reason(page: PageText, settings: Settings) -> str | None:
    """Why a person should check this page, or None: mean confidence below the profile's bar."""
    conf = page.mean_confidence
    bar = settings.ocr.review_below
    if conf is None:
        return "no text recognised"
    if conf < bar:
        return f"mean line confidence {conf:.2f} below {bar:.2f}"
    return None


def _read_and_recognise(ref: PageRef, settings: Settings, recogniser: PageRecogniser) -> tuple[PageText, bytes]:
    image = load_page(ref.path, ref.format, ref.index, settings.limits.max_image_pixels, settings.ocr.pdf_render_dpi)
    rec: Recognised = recogniser(image)
    # The access copy is the upright derivative the boxes refer to: what search results, the
    # web page and the 双层PDF show. The master is never written.
    buf = BytesIO()
    rec.image.save(buf, "JPEG", quality=85, dpi=rec.image.info.get("dpi", (300, 300)))
    return rec.page, buf.getvalue()


# One recogniser per worker process, built by the pool's initialiser.
_WORKER: PageRecogniser | None = None


def _exit_with(parent: int, every_s: float = 2.0) -> None:
    """End this worker when the process that started it is gone: a pool's workers never see their
    queue close when the parent is killed (each holds the queue's write end itself), so without
    this a killed flow would leave engine processes of ~1 GB each running for good."""
    import threading

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every_s)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _worker_init(settings: Settings, parent: int | None = None) -> None:
    global _WORKER
    if parent is not None:
        _exit_with(parent)
    _WORKER = PageRecogniser(settings)


def _worker_page(ref: PageRef, settings: Settings) -> tuple[PageText, bytes]:
    return _read_and_recognise(ref, settings, _WORKER)


_POOLS: dict[str, object] = {}


def page_pool(settings: Settings):
    """``ocr.workers`` processes, each with one single-threaded engine, kept for the process's life.

    One engine per core with pages in parallel beats one engine with more threads on a shared
    machine (OCR-ENGINES.md); spawned, so no ONNX Runtime state is forked.
    """
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    key = f"{settings.ocr.page_workers()}:{settings.model_dump_json()}"
    if key not in _POOLS:
        _POOLS[key] = ProcessPoolExecutor(settings.ocr.page_workers(), mp_context=mp.get_context("spawn"),
                                          initializer=_worker_init, initargs=(settings, os.getpid()))
    return _POOLS[key]


def close_pools() -> None:
    for pool in _POOLS.values():
        pool.shutdown(cancel_futures=True)
    _POOLS.clear()


def _born_digital(ref: PageRef, settings: Settings) -> tuple[PageText, bytes]:
    image = load_page(ref.path, ref.format, ref.index, settings.limits.max_image_pixels, settings.ocr.pdf_render_dpi)
    buf = BytesIO()
    image.save(buf, "JPEG", quality=85, dpi=image.info.get("dpi", (300, 300)))
    return _pdf_text_page(ref, *image.size), buf.getvalue()


def recognise_pages(
    pages: list[PageRef],
    settings: Settings,
    store: SQLiteStore,
    engine: OcrEngine | PageRecogniser | None,
    batch: str,
    run_id: str | None = None,
) -> OcrResult:
    """Recognise ``pages`` and store and write them; a born-digital page's own text is used as is.

    ``engine``: an engine or recogniser to use in this process; None: the configured one, in a pool
    of ``ocr.workers`` processes when that is more than one.
    """
    result = OcrResult()
    write = get_writer("all")
    t_start = time.perf_counter()
    use_pool = engine is None and settings.ocr.page_workers() > 1
    if use_pool:
        signature = ocr_signature(settings)
    else:
        recogniser = engine if isinstance(engine, PageRecogniser) else PageRecogniser(settings, engine)
        signature = recogniser.signature()
    made_by = {
        signature: (f"dangan {__version__} ocr {signature}",
                    settings.model_dump(mode="json", include={"ocr", "preprocess"})),
        PDF_TEXT_SIGNATURE: (f"dangan {__version__} pdf-text via pypdfium2 {pdfium_version()}", {}),
    }
    todo = [ref for ref in pages
            if not store.page_done(ref.refcode, ref.page_no, ref.file_sha256, signature_for(ref, signature))]
    result.skipped = len(pages) - len(todo)
    ocr_refs = [ref for ref in todo if ref.text is None]
    if use_pool and ocr_refs:
        pool = page_pool(settings)
        futures = {id(ref): pool.submit(_worker_page, ref, settings) for ref in ocr_refs}
    for ref in todo:
        if ref.text is not None:
            def get(ref=ref):
                return _born_digital(ref, settings)
        elif use_pool:
            get = futures[id(ref)].result
        else:
            def get(ref=ref):
                return _read_and_recognise(ref, settings, recogniser)
        sig = signature_for(ref, signature)
        try:
            page, jpeg = get()
            stem = page_stem(settings, ref)
            # Access copy of the page: what search results, the web page and the 双层PDF show.
            image_path = stem.with_name(stem.name + ".jpg")
            atomic_write(image_path, jpeg)
            meta = {"refcode": ref.refcode, "page": ref.page_no, "source": ref.relpath,
                    "source_sha256": ref.file_sha256, "source_page_index": ref.index, "image": str(image_path),
                    "text_source": "pdf-text" if ref.text is not None else "ocr"}
            outputs = write(page, meta, stem)
            review = review_reason(page, settings) if ref.text is None else None
            store.save_page_text(ref, page, str(image_path), batch, run_id, review)
            store.record_derivative(str(image_path), ref.refcode, ref.page_no, "access-image", digest_bytes(jpeg),
                                    ref.file_sha256, f"Pillow {PIL.__version__}",
                                    {"format": "JPEG", "quality": 85, "pdf_render_dpi": settings.ocr.pdf_render_dpi},
                                    run_id)
            tool, params = made_by[sig]
            for out in outputs:
                store.record_derivative(str(out), ref.refcode, ref.page_no, out.suffix.lstrip("."),
                                        digest_file(out), ref.file_sha256, tool, params, run_id)
            if review:
                log.warning("%s page %d flagged for review: %s", ref.refcode, ref.page_no, review)
                result.review.append({"refcode": ref.refcode, "page": ref.page_no, "reason": review})
            result.done += 1
            result.items.add(ref.refcode)
            result.engine_seconds += page.seconds
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


def page_from_json(path: Path) -> PageText:
    doc = json.loads(path.read_text(encoding="utf-8"))
    lines = tuple(OcrLine(ln["text"], ln["confidence"], tuple(tuple(p) for p in ln["polygon"])) for ln in doc["lines"])
    return PageText(lines, doc["width"], doc["height"], doc["engine"], meta={"vertical": doc.get("vertical", False)})


def write_item_pdfs(refcodes: set[str] | list[str], settings: Settings, store: SQLiteStore) -> list[Path]:
    """The searchable 双层PDF of each item, from its recognised pages' access copies and lines."""
    from PIL import Image

    written = []
    for refcode in sorted(refcodes):
        rows = store.item_pages(refcode)
        pages = []
        for row in rows:
            stem = settings.out_dir / refcode / f"page-{row['page_no']:04d}"
            jpeg = Path(row["image_path"]).read_bytes()
            with Image.open(BytesIO(jpeg)) as im:
                dpi = float((im.info.get("dpi") or (300, 300))[0] or 300)
                grey = im.mode == "L"
            pages.append(PdfPage(page_from_json(stem.with_name(stem.name + ".json")), jpeg, dpi, grey))
        if pages:
            written.append(WritePDF().write(pages, settings.out_dir / refcode / f"{refcode}.pdf", title=refcode))
    return written
