"""Progress against plans, from fixture holdings of institutions under two seed plans."""

import csv
import io
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from PIL import Image

from pipeline.config import load_settings
from pipeline.holdings import read_holdings
from pipeline.ingest.catalogue import CatalogueRow
from pipeline.ingest.identify import JPEG
from pipeline.ocr.types import OcrLine, PageText
from pipeline.plans import find_plan
from pipeline.progress import progress_report, render_text, to_csv
from pipeline.progress_report import chart_png, render_html
from pipeline.refcode import RefCode
from pipeline.store import open_store

HOLDINGS = """机构,机构类别,全宗号,应数字化件数,应数字化页数,已数字化件数,已数字化页数,统计日期
内蒙古自治区档案馆,自治区档案馆,N001,10,40,0,0,2024-01-01
呼和浩特市档案馆,盟市、旗县级综合档案馆,N002,5,,2,8,2024-01-01
内蒙古自治区档案馆,自治区档案馆,N001,8,32,0,0,2022-01-01
"""


@dataclass
class _File:
    path: Path
    relpath: str
    refcode: str
    sha256: str
    sm3: str = "00"
    size: int = 1
    format = JPEG
    pages: tuple = (1, 1)


@dataclass
class _Page:
    refcode: str
    page_no: int
    path: Path
    relpath: str
    file_sha256: str
    index: int = 0
    dpi: float = 300.0
    text: None = None


def _digitise(store, ref: str, day: str, recognised: bool = True, failed: bool = False):
    """One item scanned on ``day`` with two pages, recognised unless told otherwise."""
    f = _File(Path(f"/b/{ref}.jpg"), f"{ref}.jpg", ref, ref)
    store.upsert_file(f, "/b", None)
    store.db.execute("UPDATE files SET ingested_at=? WHERE refcode=?", (f"{day}T10:00:00+00:00", ref))
    for n in (1, 2):
        p = _Page(ref, n, f.path, f.relpath, f.sha256)
        store.upsert_page_source(p, "/b")
        if failed:
            store.mark_page_failed(p, "engine crashed")
        elif recognised:
            store.save_page_text(p, PageText((OcrLine("档案", 0.9, ((0, 0), (1, 0), (1, 1), (0, 1))),), 1, 1, "e"),
                                 "/o.jpg", "/b", None)
            store.db.execute("UPDATE pages SET ocr_at=? WHERE refcode=?", (f"{day}T11:00:00+00:00", ref))


@pytest.fixture
def store(tmp_path):
    holdings = tmp_path / "holdings.csv"
    holdings.write_text(HOLDINGS, encoding="utf-8")
    s = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    s.import_holdings(read_holdings(holdings), str(holdings))
    for fonds, n in (("N001", 10), ("N002", 3)):
        for i in range(1, n + 1):
            ref = f"{fonds}-WS·2023-Y-BGS-{i:04d}"
            s.upsert_item(CatalogueRow(i + 1, RefCode.parse(ref), fonds, 2023, "永久", "BGS", "t", "开放", 2), "/b")
    s.db.execute("UPDATE items SET created_at='2023-06-01T00:00:00+00:00'")
    for i, day in enumerate(["2024-03-01", "2024-03-02", "2024-03-20", "2024-03-25"], start=1):
        _digitise(s, f"N001-WS·2023-Y-BGS-{i:04d}", day, recognised=i != 4)
    _digitise(s, "N001-WS·2023-Y-BGS-0005", "2024-03-26", failed=True)
    _digitise(s, "N002-WS·2023-Y-BGS-0001", "2024-03-10")
    yield s
    s.close()


def _inst(report, name):
    return next(t for t in report.institutions if t.key == name)


def _goal(report, inst, metric):
    return next(g for g in report.goals if g.institution == inst and g.goal.metric == metric and not g.goal.categories)


def test_rates_per_institution_from_holdings(store):
    plan = find_plan(load_settings().plans_dir, "neimenggu-2021-2025")
    r = progress_report(store, plan, load_settings(), as_of=date(2024, 3, 31))
    region = _inst(r, "内蒙古自治区档案馆")
    assert (region.items_target, region.items_digitised) == (10, 5)
    assert region.digitisation_rate == 0.5 and region.page_digitisation_rate == 10 / 40
    assert region.pages_recognised == 6 and region.recognition_rate == 6 / 10  # unrecognised and failed pages count as not recognised
    city = _inst(r, "呼和浩特市档案馆")
    assert (city.items_target, city.items_digitised, city.pages_digitised) == (5, 3, 10)  # 2 done before dangan
    assert city.pages_target is None and city.page_digitisation_rate is None
    g = _goal(r, "内蒙古自治区档案馆", "digitisation_rate")
    assert g.goal.target == 1.0 and g.met is False and g.remaining == 5 and g.deadline == date(2025, 12, 31)
    # the 30 days up to 31 March hold 4 first scans (2, 20, 25, 26 March): 5 items to go at 4/30 a day
    assert g.recent_per_day == pytest.approx(4 / 30, abs=0.01)
    assert g.projected == date(2024, 5, 8)  # 31 March + ceil(5 / (4/30)) = 38 days
    assert g.needed_per_day == pytest.approx(5 / (date(2025, 12, 31) - date(2024, 3, 31)).days, abs=0.01)
    assert [(y.key, y.items_target, y.items_digitised) for y in r.years] == [("2023", 13, 6)]
    c = _goal(r, "呼和浩特市档案馆", "digitisation_rate")
    assert c.goal.target == 0.8 and c.actual == 0.6 and c.remaining == 1


def test_as_of_a_past_date_uses_the_holdings_and_work_of_that_date(store):
    plan = find_plan(load_settings().plans_dir, "neimenggu-2021-2025")
    r = progress_report(store, plan, load_settings(), as_of=date(2024, 3, 5))
    region = _inst(r, "内蒙古自治区档案馆")
    assert (region.items_target, region.items_digitised, region.pages_recognised) == (10, 2, 4)
    r = progress_report(store, plan, load_settings(), as_of=date(2023, 12, 31))
    assert _inst(r, "内蒙古自治区档案馆").items_target == 8  # the 2022 count, before the 2024 one


def test_a_second_seed_count_goals_and_default_institution(store):
    settings = load_settings(progress={"plan": "tianjin-2009-2013", "institution": "天津市档案馆",
                                       "institution_class": "市档案馆"})
    store.db.execute("DELETE FROM holdings")  # no holdings: the catalogue is the denominator
    plan = find_plan(settings.plans_dir, "tianjin-2009-2013")
    r = progress_report(store, plan, settings, as_of=date(2024, 3, 31))
    assert [t.key for t in r.institutions] == ["天津市档案馆"]
    t = _inst(r, "天津市档案馆")
    assert (t.items_target, t.items_digitised) == (13, 6)
    g = _goal(r, "天津市档案馆", "pages_digitised")
    assert g.goal.target == 10_000_000 and g.actual == 0  # nothing scanned inside 2009–2013
    plan = find_plan(settings.plans_dir, "shanghai-2021-2025")
    r = progress_report(store, plan, settings, as_of=date(2024, 3, 31))
    pages = _goal(r, "天津市档案馆", "pages_digitised")
    assert pages.actual == 12 and pages.remaining == 100_000_000 - 12
    assert _goal(r, "天津市档案馆", "catalogue_entries").actual == 13
    assert _goal(r, "天津市档案馆", "items_opened").actual == 0  # 开放 goal is in 卷; these are 件


def test_reports_text_csv_html_chart(store):
    plan = find_plan(load_settings().plans_dir, "neimenggu-2021-2025")
    r = progress_report(store, plan, load_settings(), as_of=date(2024, 3, 31))
    text = render_text(r)
    assert "内蒙古自治区档案馆" in text and "50.0%" in text and "未达到" in text and "预计 2024-05-08" in text
    rows = list(csv.DictReader(io.StringIO(to_csv(r))))
    assert [row["key"] for row in rows] == ["N001", "N002", "合计"]
    assert json.loads(json.dumps(r.as_dict()))["series"][-1]["digitisation_rate"] == pytest.approx(8 / 15)
    png = chart_png(r)
    img = Image.open(io.BytesIO(png))
    assert img.size == (900, 420)
    blue = sum(1 for px in img.getdata() if px == (30, 90, 200))
    red = sum(1 for px in img.getdata() if px == (200, 30, 30))
    assert blue > 100 and red > 100  # the rate line and the goal line are drawn
    page = render_html(r, png)
    assert "data:image/png;base64," in page and "纸质载体应数字化档案数字化率达到100%" in page


def test_rerun_does_not_double_count(store):
    plan = find_plan(load_settings().plans_dir, "neimenggu-2021-2025")
    before = progress_report(store, plan, load_settings(), as_of=date(2024, 3, 31)).as_dict()
    _digitise(store, "N001-WS·2023-Y-BGS-0001", "2024-03-01")  # the same item ingested again
    after = progress_report(store, plan, load_settings(), as_of=date(2024, 3, 31)).as_dict()
    assert before["institutions"] == after["institutions"]


@pytest.mark.slow
def test_progress_reconciles_with_raw_rows(sample_run):
    s = sample_run["settings"]
    plan = find_plan(s.plans_dir, "tianjin-2021-2025")
    with open_store(s.db_url) as store:
        report = progress_report(store, plan, s)
        db = store.db
        for row in report.fonds:
            items = db.execute("SELECT count(*) FROM items WHERE fonds=?", (row.key,)).fetchone()[0]
            digitised = db.execute("SELECT count(DISTINCT refcode) FROM (SELECT refcode FROM pages UNION "
                                   "SELECT refcode FROM files WHERE media='av') JOIN items i USING (refcode) "
                                   "WHERE i.fonds=?", (row.key,)).fetchone()[0]
            pages = db.execute("SELECT count(*) FROM pages p JOIN items i USING (refcode) WHERE i.fonds=?",
                               (row.key,)).fetchone()[0]
            recognised = db.execute(
                "SELECT count(*) FROM pages p JOIN items i USING (refcode) WHERE i.fonds=? AND p.ocr_state='done' "
                "AND EXISTS (SELECT 1 FROM docs d WHERE d.refcode=p.refcode AND d.page_no=p.page_no)",
                (row.key,)).fetchone()[0]
            assert (row.items_target, row.items_digitised, row.pages_digitised, row.pages_recognised) == \
                (items, digitised, pages, recognised)
    assert {r.key: r.digitisation_rate for r in report.fonds}["J002"] == 0.5
    assert report.total.digitisation_rate == pytest.approx(6 / 7)  # the two recordings count as digitised
    assert _goal(report, "本馆", "digitisation_rate").met is True
    av = report.total
    assert av.av_seconds > 0 and av.transcribed_seconds == 0 and av.waiting_seconds > 0  # no speech model here
    speech_goal = _goal(report, "本馆", "transcription_rate")
    assert speech_goal.actual == 0.0 and "await a speech model" in speech_goal.note


def test_holdings_file_errors(tmp_path):
    from pipeline.errors import CatalogueError

    p = tmp_path / "h.csv"
    p.write_text("机构,全宗号,应数字化件数,统计日期\n甲,F1,10,2024-01-01\n", encoding="utf-8")
    with pytest.raises(CatalogueError, match="机构类别"):
        read_holdings(p)
    p.write_text("机构,机构类别,全宗号,应数字化件数,统计日期\n甲,市档案馆,F1,十,2024-01-01\n", encoding="utf-8")
    with pytest.raises(CatalogueError, match="row 2"):
        read_holdings(p)


@pytest.mark.slow
def test_html_report_renders_in_a_browser(store):
    """The HTML report (with its chart) as a person sees it; the screenshot is kept for review."""
    from pipeline.progress_report import write_progress

    from .cdp import run_in_browser
    from .test_web_page import ARTIFACTS

    plan = find_plan(load_settings().plans_dir, "neimenggu-2021-2025")
    report = progress_report(store, plan, load_settings(), as_of=date(2024, 3, 31))
    page_path = write_progress(report, ARTIFACTS / "progress")

    async def script(page):
        await page.goto(page_path.as_uri())
        await page.wait_for("document.querySelector('img').complete")
        size = await page.js("[document.querySelector('img').naturalWidth, document.querySelectorAll('tbody tr').length]")
        await page.screenshot(ARTIFACTS / "progress-report.png")
        return size

    width, rows = run_in_browser(script)
    assert width == 900 and rows == len(report.goals) + len(report.years) + len(report.fonds) + 1
