import shutil
from pathlib import Path

from PIL import Image

from pipeline.config import QcRule, QcSettings
from pipeline.ingest import scan_batch
from pipeline.ingest.batch import PageRef
from pipeline.ingest.examine import ExaminedPage
from pipeline.ingest.identify import JPEG
from pipeline.ingest.pages import PageFacts
from pipeline.qc.metrics import PageMetrics
from pipeline.qc.rules import check_batch, check_page, reconcile

from .conftest import SAMPLES

GOOD = PageMetrics(ink_ratio=0.03, contrast=30, sharpness=800, skew_degrees=0.5, border_sides=0)


def _page(dpi=300.0, **metrics):
    m = PageMetrics(**{**GOOD.as_dict(), **metrics})
    ref = PageRef("J001-WS·2021-Y-BGS-0001", 3, Path("/b/x.jpg"), "x.jpg", JPEG, "aa", 0, dpi)
    return ref, ExaminedPage(PageFacts(0, 2480, 3508, dpi, "L"), "jpeg", m)


def _rules(findings):
    return sorted((f.rule, f.severity) for f in findings)


def test_a_good_page_passes():
    assert check_page(*_page(), QcSettings()) == []


def test_each_rule_with_its_threshold_and_clause():
    qc = QcSettings()
    f = check_page(*_page(dpi=240), qc)
    assert _rules(f) == [("resolution", "error")] and f[0].value == 240 and f[0].limit == 300
    assert "9.4" in f[0].clause and f[0].page_no == 3
    assert check_page(*_page(dpi=240), QcSettings(ocr_follows=False)) == []  # 200 dpi minimum then
    assert _rules(check_page(*_page(dpi=None), qc)) == [("resolution_unknown", "warning")]
    assert _rules(check_page(*_page(ink_ratio=0.0001, sharpness=5), qc)) == [("blank_page", "warning")]
    assert _rules(check_page(*_page(sharpness=40), qc)) == [("blur", "error")]
    assert _rules(check_page(*_page(skew_degrees=-3.5), qc)) == [("skew", "warning")]
    assert _rules(check_page(*_page(border_sides=1), qc)) == [("border", "warning")]


def test_severity_and_enabling_come_from_the_profile():
    qc = QcSettings(rules={"skew": QcRule(severity="error"), "blur": QcRule(enabled=False)}, max_skew_degrees=1.0)
    assert _rules(check_page(*_page(skew_degrees=1.5, sharpness=10), qc)) == [("skew", "error")]


def test_batch_rules_and_reconciliation(tmp_path, settings):
    batch = tmp_path / "b"
    shutil.copytree(SAMPLES, batch)
    (batch / "J001-WS-2021-Y-BGS-0002.jpg").unlink()
    Image.open(SAMPLES / "J002-WS-2022-Y-ZHC-0001.png").save(batch / "J003-WS-2020-Y-BGS-0001.png", dpi=(300, 300))
    cat = (batch / "catalogue.csv").read_text(encoding="utf-8")
    cat = cat.replace("通知,开放,2,J001-WS-2021-Y-BGS-0001.tif", "通知,开放,3,J001-WS-2021-Y-BGS-0001.tif")
    (batch / "catalogue.csv").write_text(cat, encoding="utf-8")
    inv = scan_batch(batch, settings)
    kinds = sorted((m.kind, m.refcode) for m in reconcile(inv))
    assert kinds == [
        ("no-files", "J001-WS·2021-Y-BGS-0002"),
        ("not-catalogued", "J003-WS·2020-Y-BGS-0001"),
        ("not-scanned", "J002-WS·2022-Y-ZHC-0002"),
        ("page-count", "J001-WS·2021-Y-BGS-0001"),
    ]
    findings = check_batch(inv, settings.qc)
    assert [f.rule for f in findings].count("mixed_formats") == 1
    severities = {f.refcode: f.severity for f in findings if f.rule == "catalogue_mismatch"}
    assert severities["J002-WS·2022-Y-ZHC-0002"] == "warning" and severities["J001-WS·2021-Y-BGS-0002"] == "error"
