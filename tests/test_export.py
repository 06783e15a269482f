import json

import pytest

from pipeline.export import get_writer
from pipeline.ocr.types import OcrLine, PageText


def test_json_and_txt_writers(tmp_path):
    page = PageText((OcrLine("档案馆", 0.91, ((1, 2), (30, 2), (30, 12), (1, 12))),), 100, 50, "eng:1")
    paths = get_writer("all")(page, {"refcode": "J001-WS·2021-Y-BGS-0001", "page": 1}, tmp_path / "page-0001")
    assert sorted(p.name for p in paths) == ["page-0001.alto.xml", "page-0001.hocr", "page-0001.json", "page-0001.txt"]
    doc = json.loads((tmp_path / "page-0001.json").read_text(encoding="utf-8"))
    assert doc["refcode"] == "J001-WS·2021-Y-BGS-0001" and doc["lines"][0]["bbox"] == [1, 2, 30, 12]
    assert doc["lines"][0]["confidence"] == 0.91 and doc["text"] == "档案馆"
    assert (tmp_path / "page-0001.txt").read_text(encoding="utf-8") == "档案馆\n"
    assert not list(tmp_path.glob(".*tmp"))


def test_unknown_format():
    with pytest.raises(ValueError, match="unknown output format"):
        get_writer("docx")
