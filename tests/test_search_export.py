"""The CSV table of search results: columns, spreadsheet-safe cells."""

import csv
import io

from pipeline.search import Hit, SearchResponse
from pipeline.search_export import COLUMNS, hits_csv


def _hit(**kw):
    base = dict(kind="page", refcode="J001-WS·2021-Y-BGS-0001", title="关于推进档案数字化工作的通知", fonds="J001",
                year=2021, retention="永久", open_status="开放", snippet="…【档案】数字化…", snippet_html="", score=1.0,
                page=2)
    return Hit(**{**base, **kw})


def test_rows_name_the_page_or_the_second_and_formulas_stay_text():
    res = SearchResponse("档案", "public", 2, [
        _hit(),
        _hit(kind="segment", page=None, recording=1, start=12.34, end=15.0, snippet="=HYPERLINK('http://x')"),
    ], {}, 0, 1.0)
    text = hits_csv(res)
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert tuple(rows[0]) == COLUMNS
    page, segment = (dict(zip(COLUMNS, r)) for r in rows[1:])
    assert page["页"] == "2" and page["录音"] == "" and page["类型"] == "页"
    assert segment["录音"] == "1" and segment["起(秒)"] == "12.3" and segment["止(秒)"] == "15.0"
    assert segment["摘要"].startswith("'=")  # a spreadsheet shows it, never runs it
