"""Catalogues (目录): one row per 件 or 卷, keyed by 档号, with Chinese or English column names."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pipeline.errors import CatalogueError, RefCodeError
from pipeline.refcode import RefCode
from pipeline.tables import column_index, read_rows

OPEN_STATUSES = ("开放", "控制", "未审核")
DEFAULT_OPEN_STATUS = "未审核"  # not public until reviewed (档案法 2020, 开放审核)

CATALOGUE_NAMES = ("catalogue.csv", "catalog.csv", "目录.csv", "catalogue.xlsx", "catalog.xlsx", "目录.xlsx")

_COLUMNS = {
    "refcode": ("档号", "refcode", "reference code"),
    "fonds": ("全宗号", "fonds"),
    "year": ("年度", "year"),
    "retention": ("保管期限", "retention"),
    "org": ("机构", "机构(问题)", "机构（问题）", "org", "organisation"),
    "title": ("题名", "title"),
    "open_status": ("开放状态", "open status", "open_status"),
    "pages": ("页数", "pages"),
    "files": ("文件名", "file", "files", "file name", "filename"),
}


@dataclass(frozen=True)
class CatalogueRow:
    row: int  # line number in the catalogue, for messages
    refcode: RefCode
    fonds: str
    year: int | None
    retention: str
    org: str
    title: str
    open_status: str
    pages: int | None
    files: tuple[str, ...] = field(default=())


@dataclass
class Catalogue:
    path: Path | None
    rows: list[CatalogueRow]
    errors: list[str]

    def by_refcode(self) -> dict[str, CatalogueRow]:
        return {str(r.refcode): r for r in self.rows}

    def by_file(self) -> dict[str, CatalogueRow]:
        return {name: r for r in self.rows for name in r.files}


def read_catalogue(path: Path) -> Catalogue:
    """Read a CSV or XLSX catalogue. Bad rows are reported with their row number; good rows are kept."""
    reader = iter(read_rows(path))
    try:
        header = next(reader)
    except StopIteration:
        raise CatalogueError(path, "the catalogue is empty") from None
    index = column_index(header, _COLUMNS)
    if "refcode" not in index:
        raise CatalogueError(path, f"no 档号/refcode column in the header: {header}")

    rows: list[CatalogueRow] = []
    errors: list[str] = []
    seen: dict[str, int] = {}
    for lineno, values in enumerate(reader, start=2):
        if not any(v.strip() for v in values):
            continue

        def get(key: str) -> str:
            i = index.get(key)
            return values[i].strip() if i is not None and i < len(values) else ""

        try:
            ref = RefCode.parse(get("refcode"))
        except RefCodeError as exc:
            errors.append(f"row {lineno}: {exc}")
            continue
        if str(ref) in seen:
            errors.append(f"row {lineno}: 档号 {ref} repeats row {seen[str(ref)]}")
            continue
        seen[str(ref)] = lineno
        status = get("open_status") or DEFAULT_OPEN_STATUS
        if status not in OPEN_STATUSES:
            errors.append(f"row {lineno}: 开放状态 {status!r} is not one of {', '.join(OPEN_STATUSES)}")
            continue
        year_text, pages_text = get("year"), get("pages")
        rows.append(
            CatalogueRow(
                row=lineno,
                refcode=ref,
                fonds=get("fonds") or ref.fonds,
                year=int(year_text) if year_text.isdigit() else ref.year,
                retention=get("retention"),
                org=get("org") or ref.org,
                title=get("title"),
                open_status=status,
                pages=int(pages_text) if pages_text.isdigit() else None,
                files=tuple(f.strip() for f in get("files").replace("；", ";").split(";") if f.strip()),
            )
        )
    return Catalogue(path=path, rows=rows, errors=errors)


def find_catalogue(batch_dir: Path) -> Path | None:
    for name in CATALOGUE_NAMES:
        if (batch_dir / name).is_file():
            return batch_dir / name
    return None
