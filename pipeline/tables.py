"""Read the spreadsheets archives keep: CSV (UTF-8 or GB18030) and XLSX, as rows of strings."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

from pipeline.errors import CatalogueError


def _decode(raw: bytes, path: Path) -> str:
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    raise CatalogueError(path, "not UTF-8 or GB18030 text: save the table as UTF-8 CSV")


def _cell(v: object) -> str:
    # Excel stores 件号 like 0001 as text but years and counts as numbers: no ".0" on whole numbers.
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def read_rows(path: Path) -> list[list[str]]:
    if path.suffix.lower() == ".xlsx":
        from openpyxl import load_workbook

        try:
            wb = load_workbook(path, read_only=True, data_only=True)
        except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
            raise CatalogueError(path, f"not a readable XLSX workbook: {exc}") from exc
        try:
            return [[_cell(v) for v in row] for row in wb.worksheets[0].iter_rows(values_only=True)]
        finally:
            wb.close()
    return [[c.strip() for c in row] for row in csv.reader(io.StringIO(_decode(path.read_bytes(), path)))]


def column_index(header: list[str], aliases: dict[str, tuple[str, ...]]) -> dict[str, int]:
    """Map our field names to column positions by any of their accepted (Chinese or English) names."""
    names = [h.strip().lower() for h in header]
    found = {}
    for key, accepted in aliases.items():
        for i, name in enumerate(names):
            if name in accepted:
                found[key] = i
                break
    return found
