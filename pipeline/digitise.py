"""The digitisation stages as plain functions: ingest a batch, recognise its pages.

Flows (``flows/``) and the tests call these; nothing here knows about Prefect.
"""

from __future__ import annotations

import json
import logging
import time
from io import BytesIO
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.config import Settings
from pipeline.errors import InputFileError
from pipeline.export import PdfPage, WritePDF, get_writer
from pipeline.export.writers import atomic_write
from pipeline.ingest import Failure, PageRef, scan_batch
from pipeline.ingest.pages import load_page
from pipeline.ocr.engines import OcrEngine
from pipeline.ocr.recognise import PageRecogniser, Recognised, ocr_signature
from pipeline.ocr.types import OcrLine, PageText
from pipeline.refcode import RefCode
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


@dataclass
class OcrResult:
    done: int = 0
    skipped: int = 0
    failures: list[Failure] = field(default_factory=list)
    engine_seconds: float = 0.0
    total_seconds: float = 0.0
    review: list[dict] = field(default_factory=list)  # pages below the confidence threshold
    items: set[str] = field(default_factory=set)  # 档号 of items with pages recognised


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
    return IngestResult(batch, len(inv.files), new, items, pages, inv.failures)


def pending_pages(pages: list[PageRef], store: SQLiteStore, engine_signature: str) -> list[PageRef]:
    """Pages not yet recognised from these exact bytes by this exact engine configuration."""
    return [p for p in pages if not store.page_done(p.refcode, p.page_no, p.file_sha256, engine_signature)]


def page_stem(settings: Settings, ref: PageRef) -> Path:
    return settings.out_dir / ref.refcode / f"page-{ref.page_no:04d}"


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


def _worker_init(settings: Settings) -> None:
    global _WORKER
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

    key = f"{settings.ocr.workers}:{settings.model_dump_json()}"
    if key not in _POOLS:
        _POOLS[key] = ProcessPoolExecutor(settings.ocr.workers, mp_context=mp.get_context("spawn"),
                                          initializer=_worker_init, initargs=(settings,))
    return _POOLS[key]


def close_pools() -> None:
    for pool in _POOLS.values():
        pool.shutdown(cancel_futures=True)
    _POOLS.clear()


def recognise_pages(
    pages: list[PageRef],
    settings: Settings,
    store: SQLiteStore,
    engine: OcrEngine | PageRecogniser | None,
    batch: str,
    run_id: str | None = None,
) -> OcrResult:
    """Recognise ``pages`` and store and write them.

    ``engine``: an engine or recogniser to use in this process; None: the configured one, in a pool
    of ``ocr.workers`` processes when that is more than one.
    """
    result = OcrResult()
    write = get_writer("all")
    t_start = time.perf_counter()
    use_pool = engine is None and settings.ocr.workers > 1
    if use_pool:
        signature = ocr_signature(settings)
    else:
        recogniser = engine if isinstance(engine, PageRecogniser) else PageRecogniser(settings, engine)
        signature = recogniser.signature()
    todo = [ref for ref in pages if not store.page_done(ref.refcode, ref.page_no, ref.file_sha256, signature)]
    result.skipped = len(pages) - len(todo)
    if use_pool and todo:
        pool = page_pool(settings)
        futures = [pool.submit(_worker_page, ref, settings) for ref in todo]
        outcomes = ((ref, fut.result) for ref, fut in zip(todo, futures))
    else:
        outcomes = ((ref, lambda ref=ref: _read_and_recognise(ref, settings, recogniser)) for ref in todo)
    for ref, get in outcomes:
        try:
            page, jpeg = get()
            stem = page_stem(settings, ref)
            image_path = stem.with_name(stem.name + ".jpg")
            atomic_write(image_path, jpeg)
            meta = {"refcode": ref.refcode, "page": ref.page_no, "source": ref.relpath,
                    "source_sha256": ref.file_sha256, "source_page_index": ref.index, "image": str(image_path)}
            write(page, meta, stem)
            review = review_reason(page, settings)
            store.save_page_text(ref, page, str(image_path), batch, run_id, review)
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
