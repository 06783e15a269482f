import pytest

from pipeline.plans import find_plan
from pipeline.progress import progress_report, render_text
from pipeline.store import open_store


@pytest.mark.slow
def test_progress_reconciles_with_raw_rows(sample_run):
    s = sample_run["settings"]
    plan = find_plan(s.plans_dir, "tianjin-2021-2025")
    with open_store(s.db_url) as store:
        report = progress_report(store, plan, "市档案馆")
        db = store.db
        for row in report.rows:
            items = db.execute("SELECT count(*) FROM items WHERE fonds=?", (row.fonds,)).fetchone()[0]
            digitised = db.execute("SELECT count(DISTINCT refcode) FROM (SELECT refcode FROM pages UNION "
                                   "SELECT refcode FROM files WHERE media='av') JOIN items i USING (refcode) "
                                   "WHERE i.fonds=?", (row.fonds,)).fetchone()[0]
            pages = db.execute("SELECT count(*) FROM pages p JOIN items i USING (refcode) WHERE i.fonds=?",
                               (row.fonds,)).fetchone()[0]
            recognised = db.execute(
                "SELECT count(*) FROM pages p JOIN items i USING (refcode) WHERE i.fonds=? AND p.ocr_state='done' "
                "AND EXISTS (SELECT 1 FROM docs d WHERE d.refcode=p.refcode AND d.page_no=p.page_no)",
                (row.fonds,)).fetchone()[0]
            assert (row.items, row.items_digitised, row.pages, row.pages_recognised) == (items, digitised, pages, recognised)
        # A failed page is digitised but not recognised.
        store.db.execute("UPDATE pages SET ocr_state='failed' WHERE refcode='J002-WS·2022-Y-ZHC-0001'")
        failed = progress_report(store, plan, "市档案馆")
        store.db.execute("UPDATE pages SET ocr_state='done' WHERE refcode='J002-WS·2022-Y-ZHC-0001'")
    by = {r.fonds: r for r in report.rows}
    assert by["J002"].digitisation_rate == 0.5  # one of two catalogued items scanned
    assert report.total.digitisation_rate == pytest.approx(6 / 7)  # the two recordings count as digitised
    assert report.digitisation_goal.target == 0.8
    assert {r.fonds: r.recognition_rate for r in failed.rows}["J002"] == 0.0
    text = render_text(report)
    assert "80.0%" in text and "J002" in text and "市档案馆应数字化档案数字化率达到80%" in text
