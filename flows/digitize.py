"""``digitize-batch``: ingest a scan batch, recognise its pages, transcribe its recordings, report progress.

Tasks work on batches of pages, not single pages (per-file tasks drown the orchestrator). A
re-run is safe: ingest upserts, and pages already recognised from the same bytes by the same
engine configuration are skipped, so nothing is recognised or stored twice.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from pipeline.config import Settings, load_settings
from pipeline.digitise import (IngestResult, OcrResult, batch_id, ingest_batch, pending_pages, recognise_pages,
                               write_item_pdfs)
from pipeline.ingest import PageRef
from pipeline.ocr.recognise import PageRecogniser, ocr_signature
from pipeline.plans import find_plan
from pipeline.progress import progress_report, render_text
from pipeline.progress_report import write_progress
from pipeline.speech.models import NOT_CONFIGURED
from pipeline.speech.stage import AvRef, SpeechResult, configured_engine, pending_av, process_recordings, speech_signature
from pipeline.store import open_store


@task(name="ingest", cache_policy=NO_CACHE)
def ingest_task(batch_dir: str, settings: Settings, run_id: str) -> IngestResult:
    with open_store(settings.db_url) as store:
        result = ingest_batch(Path(batch_dir), settings, store, run_id)
    log = get_run_logger()
    log.info("ingested %d files (%d new), %d pages, %d failures", result.files, result.files_new,
             len(result.pages), len(result.failures))
    for f in result.failures:
        log.warning("%s: %s: %s", f.path, f.kind, f.reason)
    rep = result.report
    log.info("QC: %d findings, %d errors on %d pages; report %s", rep.findings, rep.errors, rep.pages_failing, rep.html)
    create_markdown_artifact(
        key=re.sub(r"[^a-z0-9-]+", "-", f"qc-{batch_id(result.batch)}".lower()),  # Prefect's key alphabet
        markdown=(f"**QC (DA/T 31-2017)** for `{result.batch}`: {result.files} files, {len(result.pages)} pages, "
                  f"{rep.findings} findings ({rep.errors} errors), {len(result.failures)} ingest failures.\n\n"
                  f"Report: `{rep.html}`"),
        description="Quality control and reconciliation",
    )
    return result


@task(name="plan-ocr", cache_policy=NO_CACHE)
def plan_ocr_task(pages: list[PageRef], settings: Settings) -> list[PageRef]:
    with open_store(settings.db_url) as store:
        return pending_pages(pages, store, ocr_signature(settings))


@task(name="ocr-pages", cache_policy=NO_CACHE, task_run_name="ocr-pages-{first}")
def ocr_task(pages: list[PageRef], settings: Settings, batch: str, run_id: str, first: str) -> OcrResult:
    # In-process engines are shared by every task the process runs; with ocr.workers > 1 the
    # pages go to a pool of single-threaded engine processes instead.
    recogniser = PageRecogniser(settings) if settings.ocr.page_workers() == 1 else None  # None: the pool
    with open_store(settings.db_url) as store:
        result = recognise_pages(pages, settings, store, recogniser, batch, run_id)
    get_run_logger().info("recognised %d pages in %.1f s (engine %.1f s)", result.done,
                          result.total_seconds, result.engine_seconds)
    return result


@task(name="plan-speech", cache_policy=NO_CACHE)
def plan_speech_task(recordings: list[AvRef], settings: Settings) -> list[AvRef]:
    signature = speech_signature(settings)
    if recordings and signature is None:
        get_run_logger().warning("%s", NOT_CONFIGURED)
    with open_store(settings.db_url) as store:
        return pending_av(recordings, store, signature)


@task(name="speech", cache_policy=NO_CACHE, task_run_name="speech-{first}")
def speech_task(recordings: list[AvRef], settings: Settings, run_id: str, first: str) -> SpeechResult:
    engine = configured_engine(settings)
    with open_store(settings.db_url) as store:
        result = process_recordings(recordings, settings, store, engine, run_id)
    log = get_run_logger()
    log.info("%d recordings, %.1f min of audio, %.1f min of speech; transcribed %d, awaiting transcription %d",
             len(recordings), result.seconds / 60, result.speech_seconds / 60, result.transcribed, result.awaiting)
    for f in result.failures:
        log.warning("%s: %s: %s", f.path, f.kind, f.reason)
    return result


@task(name="export-items", cache_policy=NO_CACHE)
def export_items_task(refcodes: list[str], settings: Settings) -> int:
    """The 双层PDF of every item that had pages recognised in this run."""
    with open_store(settings.db_url) as store:
        written = write_item_pdfs(refcodes, settings, store)
    get_run_logger().info("wrote %d item PDFs", len(written))
    return len(written)


@task(name="progress", cache_policy=NO_CACHE)
def progress_task(settings: Settings) -> str:
    plan = find_plan(settings.plans_dir, settings.progress.plan)
    with open_store(settings.db_url) as store:
        report = progress_report(store, plan, settings)
    text = render_text(report)
    html = write_progress(report, settings.out_dir / "reports" / "progress" / plan.id)
    # Stable keys: every run adds a version of the same artifact, so the UI shows the history.
    create_markdown_artifact(key=f"progress-{plan.id}", markdown=f"```\n{text}\n```\n\nReport: `{html}`",
                             description=f"数字化率 / 文字识别率 against {plan.title}")
    create_table_artifact(key=f"progress-{plan.id}-fonds", table=[r.as_dict() for r in [*report.fonds, report.total]],
                          description="Progress per 全宗")
    create_table_artifact(key=f"progress-{plan.id}-goals", table=[g.as_dict() | {"goal": g.goal.quote} for g in report.goals],
                          description="Goals of the plan")
    return text


@flow(name="digitize-batch")
def digitize_batch(batch_dir: str, profile: str = "default") -> dict:
    t0 = time.perf_counter()
    settings = load_settings(profile)
    batch = str(Path(batch_dir).resolve())
    with open_store(settings.db_url) as store:
        run_id = store.start_run(batch, flow_run_id=str(flow_run.id) if flow_run.id else None)
    ingested = ingest_task(batch, settings, run_id)
    blocked = {(p.refcode, p.page_no) for p in ingested.blocked}
    todo = plan_ocr_task([p for p in ingested.pages if (p.refcode, p.page_no) not in blocked], settings)
    n = settings.ocr.pages_per_task
    results = [
        ocr_task(todo[i : i + n], settings, ingested.batch, run_id, first=f"{todo[i].refcode}-p{todo[i].page_no}")
        for i in range(0, len(todo), n)
    ]
    export_items_task(sorted({r for res in results for r in res.items}), settings)
    av_todo = plan_speech_task(ingested.recordings, settings)
    k = settings.speech.items_per_task
    speech = [
        speech_task(av_todo[i : i + k], settings, run_id, first=f"{av_todo[i].refcode}-{av_todo[i].part}")
        for i in range(0, len(av_todo), k)
    ]
    progress = progress_task(settings)
    failures = ingested.failures + [f for r in results for f in r.failures] + [f for r in speech for f in r.failures]
    summary = {
        "batch": batch,
        "run_id": run_id,
        "flow_run_id": str(flow_run.id) if flow_run.id else None,
        "files": ingested.files,
        "items": ingested.items,
        "pages": len(ingested.pages),
        "pages_recognised": sum(r.done for r in results),
        "pages_skipped": len(ingested.pages) - len(blocked) - len(todo) + sum(r.skipped for r in results),
        "pages_blocked_by_qc": len(blocked),
        "qc_report": str(ingested.report.html),
        "qc_errors": ingested.report.errors,
        "engine_seconds": round(sum(r.engine_seconds for r in results), 3),
        "ocr_seconds": round(sum(r.total_seconds for r in results), 3),
        "seconds": round(time.perf_counter() - t0, 3),
        "recordings": len(ingested.recordings),
        "recordings_transcribed": sum(r.transcribed for r in speech),
        "recordings_awaiting": sum(r.awaiting for r in speech),
        "recordings_skipped": len(ingested.recordings) - len(av_todo) + sum(r.skipped for r in speech),
        "audio_minutes": round(sum(r.seconds for r in speech) / 60, 2),
        "speech_minutes": round(sum(r.speech_seconds for r in speech) / 60, 2),
        "speech_message": NOT_CONFIGURED if ingested.recordings and speech_signature(settings) is None else None,
        "review": [r for res in results for r in res.review],
        "failures": [{"path": f.path, "page": f.page_no, "stage": f.stage, "kind": f.kind, "reason": f.reason}
                     for f in failures],
        "progress": progress,
    }
    with open_store(settings.db_url) as store:
        store.finish_run(run_id, "completed_with_failures" if failures else "completed",
                         {k: summary[k] for k in ("files", "items", "pages", "pages_recognised", "pages_skipped",
                                                  "recordings", "recordings_transcribed", "recordings_awaiting")}
                         | {"failures": len(failures)},
                         engine={"signature": ocr_signature(settings), "speech": speech_signature(settings)})
    get_run_logger().info("batch %s: %d pages, %d recognised, %d skipped, %d failures", batch, summary["pages"],
                          summary["pages_recognised"], summary["pages_skipped"], len(failures))
    return summary
