"""Holdings (馆藏): what should be digitised, per institution and 全宗 — the rates' denominator.

A holdings file (CSV or XLSX) has one row per institution and 全宗:

    机构, 机构类别, 全宗号, 应数字化件数, 应数字化页数, 应转写分钟, 已数字化件数, 已数字化页数, 统计日期

已数字化 counts are work done before dangan (or outside it); they add to dangan's own counts.
Every import is kept with its 统计日期, so a report "as of" a date uses the holdings of that date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from pipeline.errors import CatalogueError
from pipeline.tables import column_index, read_rows

_COLUMNS = {
    "institution": ("机构", "institution"),
    "institution_class": ("机构类别", "institution class", "institution_class"),
    "fonds": ("全宗号", "fonds"),
    "items": ("应数字化件数", "items"),
    "pages": ("应数字化页数", "pages"),
    "av_minutes": ("应转写分钟", "av minutes", "av_minutes"),
    "items_done": ("已数字化件数", "items done", "items_done"),
    "pages_done": ("已数字化页数", "pages done", "pages_done"),
    "as_of": ("统计日期", "as of", "as_of"),
}


@dataclass(frozen=True)
class Holding:
    institution: str
    institution_class: str
    fonds: str
    items: int
    pages: int | None
    av_minutes: float | None
    items_done: int
    pages_done: int
    as_of: date


def _int(text: str, what: str, row: int, path: Path) -> int | None:
    if text == "":
        return None
    try:
        value = int(float(text.replace(",", "")))
    except ValueError:
        raise CatalogueError(path, f"row {row}: {what} {text!r} is not a number") from None
    if value < 0:
        raise CatalogueError(path, f"row {row}: {what} is negative")
    return value


def read_holdings(path: Path) -> list[Holding]:
    rows = read_rows(path)
    if not rows:
        raise CatalogueError(path, "the holdings file is empty")
    idx = column_index(rows[0], _COLUMNS)
    missing = [c for c in ("institution", "institution_class", "fonds", "items", "as_of") if c not in idx]
    if missing:
        names = ", ".join(_COLUMNS[c][0] for c in missing)
        raise CatalogueError(path, f"missing column(s): {names}")
    out = []
    for n, values in enumerate(rows[1:], start=2):
        if not any(values):
            continue

        def get(key: str) -> str:
            i = idx.get(key)
            return values[i].strip() if i is not None and i < len(values) else ""

        try:
            as_of = date.fromisoformat(get("as_of")[:10])
        except ValueError:
            raise CatalogueError(path, f"row {n}: 统计日期 {get('as_of')!r} is not a date (YYYY-MM-DD)") from None
        items = _int(get("items"), "应数字化件数", n, path)
        if items is None or not get("institution") or not get("fonds"):
            raise CatalogueError(path, f"row {n}: 机构, 全宗号 and 应数字化件数 are required")
        minutes = get("av_minutes")
        out.append(Holding(
            institution=get("institution"), institution_class=get("institution_class"), fonds=get("fonds"),
            items=items, pages=_int(get("pages"), "应数字化页数", n, path),
            av_minutes=float(minutes) if minutes else None,
            items_done=_int(get("items_done"), "已数字化件数", n, path) or 0,
            pages_done=_int(get("pages_done"), "已数字化页数", n, path) or 0,
            as_of=as_of,
        ))
    return out
