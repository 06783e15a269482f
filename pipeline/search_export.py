"""Search results as a CSV table (the API's ``/api/search.csv`` and ``dangan search --csv``).

The table is made from a ``SearchResponse``, so it holds exactly what the role's search returned:
the same access limit as the result list, and the export is logged as the query it is. Column
names are the archive's own (档号, 题名, …); UTF-8 with a byte-order mark so spreadsheet programs
open the Chinese text as Chinese.
"""

from __future__ import annotations

import csv
import io

from pipeline.search import SearchResponse

COLUMNS = ("档号", "题名", "全宗", "年度", "保管期限", "开放状态", "类型", "页", "录音", "起(秒)", "止(秒)", "摘要")
BOM = "\ufeff"


def _cell(value) -> str:
    text = "" if value is None else str(value)
    # A cell starting with = + - @ is a formula to spreadsheet programs: OCR text could carry one.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def hits_csv(res: SearchResponse) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(COLUMNS)
    for h in res.hits:
        w.writerow([_cell(v) for v in (
            h.refcode, h.title, h.fonds, h.year, h.retention, h.open_status, "页" if h.kind == "page" else "录音片段",
            h.page, h.recording, None if h.start is None else f"{h.start:.1f}",
            None if h.end is None else f"{h.end:.1f}", h.snippet)])
    return BOM + out.getvalue()
