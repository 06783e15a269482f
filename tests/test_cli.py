import json
import os
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

from pipeline.cli import cli

from .conftest import SAMPLES


def _env(settings):
    return {"DANGAN_DATA_DIR": str(settings.data_dir), "DANGAN_MODEL_DIR": str(settings.model_dir)}


@pytest.mark.slow
@pytest.mark.parametrize("query", ["档", "档案", "开放审核制度", "推动重要档案数字化成果文字识别"])
def test_search_any_length_returns_the_page(sample_run, query):
    res = CliRunner().invoke(cli, ["search", query, "--json"], env=_env(sample_run["settings"]))
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["total"] >= 1
    for hit in out["hits"]:
        assert "【" in hit["snippet"] and os.path.isfile(hit["image_path"]) and len(hit["box"]) == 4
    pages = {(h["refcode"], h["page"]) for h in out["hits"]}
    if query == "开放审核制度":
        assert pages == {("J001-WS·2021-Y-BGS-0002", 1)}
    if query == "推动重要档案数字化成果文字识别":
        assert ("J001-WS·2021-Y-BGS-0001", 1) in pages


@pytest.mark.slow
def test_public_role_sees_only_open_items(sample_run):
    res = CliRunner().invoke(cli, ["search", "档案", "--json", "--role", "public"], env=_env(sample_run["settings"]))
    out = json.loads(res.output)
    assert out["total"] == 3 and {h["open_status"] for h in out["hits"]} == {"开放"}


@pytest.mark.slow
def test_search_csv_export_holds_what_the_role_may_see(sample_run):
    import csv
    import io

    env = _env(sample_run["settings"])
    public = CliRunner().invoke(cli, ["search", "档案", "--csv", "--role", "public", "--limit", "100"], env=env)
    staff = CliRunner().invoke(cli, ["search", "档案", "--csv", "--role", "staff", "--limit", "100"], env=env)
    assert public.exit_code == 0 and staff.exit_code == 0, public.output
    assert public.output.startswith("\ufeff档号,题名,全宗")
    rows = list(csv.DictReader(io.StringIO(public.output.lstrip("\ufeff"))))
    assert len(rows) == 3 and {r["开放状态"] for r in rows} == {"开放"}
    assert all(r["类型"] == "页" and r["页"] and "【" in r["摘要"] for r in rows)
    staff_rows = list(csv.DictReader(io.StringIO(staff.output.lstrip("\ufeff"))))
    assert len(staff_rows) == 6 and {"控制", "未审核"} <= {r["开放状态"] for r in staff_rows}


@pytest.mark.slow
def test_progress_json_csv_and_files(sample_run, tmp_path):
    env = _env(sample_run["settings"])
    res = CliRunner().invoke(cli, ["progress", "--json", "-o", str(tmp_path / "rep")], env=env)
    out = json.loads(res.output)
    assert out["plan"]["id"] == "tianjin-2021-2025"
    goal = next(g for g in out["goals"] if g["goal"]["metric"] == "digitisation_rate")
    assert goal["goal"]["target"] == 0.8 and goal["actual"] == 6 / 7 and goal["met"] is True  # 2 recordings count
    assert out["total"]["pages_digitised"] == 6 and out["total"]["pages_recognised"] == 6
    assert sorted(p.name for p in (tmp_path / "rep").iterdir()) == [
        "progress.csv", "progress.html", "progress.json", "progress.png"]
    csv_out = CliRunner().invoke(cli, ["progress", "--csv", "--plan", "neimenggu-2021-2025"], env=env).output
    assert csv_out.splitlines()[0].startswith("institution,") and "J002" in csv_out


def test_bad_arguments_and_missing_models_exit_codes(tmp_path):
    env = {**os.environ, "DANGAN_DATA_DIR": str(tmp_path / "d"), "DANGAN_MODEL_DIR": str(tmp_path / "m")}
    run = lambda *a: subprocess.run([sys.executable, "-m", "pipeline", *a], env=env, capture_output=True, text=True)  # noqa: E731
    r = run("search", "  ")
    assert r.returncode == 1 and "empty" in r.stderr
    r = run("search", "档案", "--role", "root")
    assert r.returncode == 1 and "unknown role" in r.stderr
    r = run("run", str(tmp_path))
    assert r.returncode == 3 and "dangan models fetch" in r.stderr


@pytest.mark.slow
def test_run_ephemeral_reports_bad_files_and_exits_2(tmp_path, model_dir):
    batch = tmp_path / "batch"
    batch.mkdir()
    shutil.copy(SAMPLES / "J002-WS-2022-Y-ZHC-0001.png", batch)
    jpeg = (SAMPLES / "J001-WS-2021-Y-BGS-0002.jpg").read_bytes()
    (batch / "J001-WS-2021-Y-BGS-0002.jpg").write_bytes(jpeg[:20000])
    (batch / "J001-WS-2021-Y-BGS-0009.jpg").write_bytes(b"")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env.update({"DANGAN_DATA_DIR": str(tmp_path / "d"), "DANGAN_MODEL_DIR": str(model_dir),
                "PREFECT_HOME": str(tmp_path / "prefect")})
    r = subprocess.run([sys.executable, "-m", "pipeline", "run", str(batch)], env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 2, r.stderr[-2000:]
    assert "1 pages; recognised 1" in r.stdout or "recognised 1" in r.stdout
    assert "FAILED J001-WS-2021-Y-BGS-0002.jpg [ingest/corrupt-file]" in r.stderr
    assert "FAILED J001-WS-2021-Y-BGS-0009.jpg [ingest/empty-file]" in r.stderr


@pytest.mark.slow
def test_ocr_command_stdout_and_output_dir(tmp_path, model_dir):
    from bench.pages import make_page

    from pipeline.export.alto import validate_alto
    from pipeline.export.hocr import validate_hocr

    page = make_page("horizontal", 11, dpi=200, size=(1654, 500))
    img = tmp_path / "scan.png"
    page.image.save(img, dpi=(200, 200))
    env = {"DANGAN_MODEL_DIR": str(model_dir), "DANGAN_DATA_DIR": str(tmp_path / "data")}
    res = CliRunner().invoke(cli, ["ocr", str(img)], env=env)
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[0] == page.text.splitlines()[0]
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, ["ocr", str(img), "-o", str(out), "--format", "all"], env=env)
    assert res.exit_code == 0, res.output
    names = sorted(p.name for p in out.iterdir())
    assert names == ["scan.alto.xml", "scan.hocr", "scan.json", "scan.pdf", "scan.txt"]
    assert validate_alto((out / "scan.alto.xml").read_bytes()) == validate_hocr((out / "scan.hocr").read_bytes()) > 1
    res = CliRunner().invoke(cli, ["ocr", str(tmp_path / "missing.png"), str(img)], env=env)
    assert res.exit_code == 2 and "no such file" in res.output and page.text.splitlines()[0] in res.output
    res = CliRunner().invoke(cli, ["ocr", str(img), "--format", "pdf"], env=env)
    assert res.exit_code != 0 and "-o DIR" in res.output
