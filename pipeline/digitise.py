"""The digitisation stages as plain functions: ingest a batch, recognise its pages.

Flows (``flows/``) and the tests call these; nothing here knows about Prefect.
"""

from __future__ import annotations

import logging
import time
from io import BytesIO
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.config import Settings
from pipeline.errors import InputFileError
from pipeline.export import get_writer
from pipeline.export.writers import atomic_write
from pipeline.ingest import Failure, PageRef, scan_batch
from pipeline.ingest.pages import load_page
from pipeline.ocr.engines import OcrEngine
from pipeline.ocr.recognise import recognise_page
from pipeline.refcode import RefCode
from pipeline.speech.stage import AvRef, av_refs
from pipeline.store import SQLiteStore

log = logging.getLogger(__name__)


@dataclass
class IngestResult:
    batch: str
    files: int
    files_new: int
    items: int
    pages: list[PageRef]
    failures: list[Failure]
    recordings: list[AvRef] = field(default_factory=list)  # audio and video, for the speech stage


@dataclass
class OcrResult:
    done: int = 0
    skipped: int = 0
    failures: list[Failure] = field(default_factory=list)
    engine_seconds: float = 0.0
    total_seconds: float = 0.0


def ingest_batch(batch_dir: Path, settings: Settings, store: SQLiteStore, run_id: str | None = None) -> IngestResult:
    inv = scan_batch(batch_dir, settings)
    batch = str(inv.batch_dir)
    catalogued = inv.catalogue.by_refcode()
    for row in inv.catalogue.rows:
        store.upsert_item(row, batch)
    new = 0
    for f in inv.files:
        if f.refcode not in catalogued:
            ref = RefCode.parse(f.refcode)
            store.ensure_item(f.refcode, ref.fonds, ref.year, batch)
        new += store.upsert_file(f, batch, run_id)
    pages = inv.pages
    for p in pages:
        store.upsert_page_source(p, batch)
    for failure in inv.failures:
        store.record_failure(batch, failure, run_id)
    items = len({f.refcode for f in inv.files})
    return IngestResult(batch, len(inv.files), new, items, pages, inv.failures, av_refs(inv.files, batch))


def pending_pages(pages: list[PageRef], store: SQLiteStore, engine_signature: str) -> list[PageRef]:
    """Pages not yet recognised from these exact bytes by this exact engine configuration."""
    return [p for p in pages if not store.page_done(p.refcode, p.page_no, p.file_sha256, engine_signature)]


def page_stem(settings: Settings, ref: PageRef) -> Path:
    return settings.out_dir / ref.refcode / f"page-{ref.page_no:04d}"


def recognise_pages(
    pages: list[PageRef],
    settings: Settings,
    store: SQLiteStore,
    engine: OcrEngine,
    batch: str,
    run_id: str | None = None,
) -> OcrResult:
    result = OcrResult()
    write = get_writer("all")
    t_start = time.perf_counter()
    signature = engine.signature()
    for ref in pages:
        if store.page_done(ref.refcode, ref.page_no, ref.file_sha256, signature):
            result.skipped += 1
            continue
        try:
            image = load_page(ref.path, ref.format, ref.index, settings.limits.max_image_pixels,
                              settings.ocr.pdf_render_dpi)
            page = recognise_page(engine, image)
            stem = page_stem(settings, ref)
            # Access copy of the page: what search results and the web page show.
            image_path = stem.with_name(stem.name + ".jpg")
            buf = BytesIO()
            image.save(buf, "JPEG", quality=85, dpi=image.info.get("dpi", (300, 300)))
            atomic_write(image_path, buf.getvalue())
            meta = {"refcode": ref.refcode, "page": ref.page_no, "source": ref.relpath,
                    "source_sha256": ref.file_sha256, "source_page_index": ref.index, "image": str(image_path)}
            write(page, meta, stem)
            store.save_page_text(ref, page, str(image_path), batch, run_id)
            result.done += 1
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
