import csv
import json
from html.parser import HTMLParser

import pytest

from pipeline.digitise import ingest_batch
from pipeline.errors import InputFileError
from pipeline.qc.sample import draw_sample, read_verdict
from pipeline.store import open_store

from .conftest import SAMPLES


class _Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.text = []

    def handle_data(self, data):
        self.text.append(data)


def test_reports_are_written_and_readable(settings):
    with open_store(settings.db_url) as store:
        result = ingest_batch(SAMPLES, settings, store)
        rows = store.findings(result.batch)
    rep = result.report
    parser = _Text()
    parser.feed(rep.html.read_text(encoding="utf-8"))
    text = "".join(parser.text)
    assert "纸质档案数字化质量检查报告" in text and "J002-WS·2022-Y-ZHC-0002" in text and "人工抽检单" in text
    doc = json.loads(rep.json.read_text(encoding="utf-8"))
    assert doc["summary"]["pages"] == 6 and len(doc["pages"]) == 6
    assert {p["dpi"] for p in doc["pages"]} == {300.0}
    assert {f["rule"] for f in doc["findings"]} == {r["rule"] for r in rows} == {"mixed_formats", "catalogue_mismatch"}
    with open(rep.folder / "sample-sheet.csv", encoding="utf-8-sig") as fh:
        sheet = list(csv.DictReader(fh))
    assert len(sheet) == 1 and sheet[0]["检查结果"] == ""  # ceil(5% of 6)
    assert (rep.folder / "reconciliation.csv").read_text(encoding="utf-8-sig").count("not-scanned") == 1


def test_sample_is_at_least_the_ratio_and_reproducible():
    pages = list(range(1000))
    a = draw_sample(pages, 0.05, "batch-x")
    assert len(a) == 50 and a == draw_sample(pages, 0.05, "batch-x") and a != draw_sample(pages, 0.05, "batch-y")
    assert len(draw_sample(pages[:3], 0.05, "s")) == 1 and draw_sample([], 0.05, "s") == []


def _sheet(tmp_path, results):
    p = tmp_path / "sheet.csv"
    with open(p, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["档号", "页号", "文件", "文件内页序", "检查结果", "问题说明"])
        for i, r in enumerate(results):
            w.writerow(["J001-WS·2021-Y-BGS-0001", i + 1, "x.tif", 1, r, ""])
    return p


def test_verdict_against_the_gate(tmp_path):
    assert read_verdict(_sheet(tmp_path, ["合格"] * 19 + ["不合格"]), 0.95).accepted  # 95%
    v = read_verdict(_sheet(tmp_path, ["合格"] * 18 + ["不合格"] * 2), 0.95)
    assert not v.accepted and v.rate == 0.9
    v = read_verdict(_sheet(tmp_path, ["合格", ""]), 0.95)
    assert not v.accepted and v.unchecked == 1
    with pytest.raises(InputFileError, match="row 2"):
        read_verdict(_sheet(tmp_path, ["maybe"]), 0.95)
