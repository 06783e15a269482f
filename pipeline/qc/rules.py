"""QC rules after DA/T 31-2017, each with a configured threshold and severity.

A rule looks at the facts ingest measured (never the pixels again) and yields ``Finding``s. The
clause named is where the standard speaks of the matter; thresholds marked (local rule) in
``pipeline/config.py`` are an archive's own and live in its profile.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass

from pipeline.config import QcSettings
from pipeline.ingest.batch import BatchInventory, PageRef
from pipeline.ingest.examine import ExaminedPage

CLAUSES = {
    "resolution": "DA/T 31-2017 9.4 扫描分辨率",
    "resolution_unknown": "DA/T 31-2017 9.4 扫描分辨率",
    "blank_page": "DA/T 31-2017 7.1 确定扫描页 / 图像质量",
    "blur": "DA/T 31-2017 图像质量（清晰）",
    "skew": "DA/T 31-2017 图像处理（纠偏）",
    "border": "DA/T 31-2017 图像处理（裁边）",
    "mixed_formats": "DA/T 31-2017 9.5 存储格式（同一批档案应采用相同的存储格式）",
    "catalogue_mismatch": "DA/T 31-2017 数据挂接（目录数据与数字图像）",
}


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str  # error | warning
    clause: str
    message: str
    refcode: str = ""
    page_no: int = 0  # 0: the finding concerns an item or the whole batch
    path: str = ""
    value: float | None = None
    limit: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def _finding(qc: QcSettings, rule: str, message: str, **kw) -> Finding | None:
    r = qc.rule(rule)
    if not r.enabled:
        return None
    return Finding(rule, r.severity, CLAUSES[rule], message, **kw)


def check_page(ref: PageRef, page: ExaminedPage, qc: QcSettings) -> list[Finding]:
    where = {"refcode": ref.refcode, "page_no": ref.page_no, "path": ref.relpath}
    out: list[Finding | None] = []
    if ref.text is None:  # born-digital PDF pages have no scan resolution
        min_dpi = qc.min_dpi_for_ocr if qc.ocr_follows else qc.min_dpi
        dpi = page.facts.dpi
        if dpi is None:
            out.append(_finding(qc, "resolution_unknown", "the file records no resolution (dpi)", **where))
        elif dpi < min_dpi:
            out.append(_finding(qc, "resolution", f"scanned at {dpi:g} dpi, below the minimum of {min_dpi:g} dpi",
                                value=dpi, limit=min_dpi, **where))
    m = page.metrics
    if m is not None:
        blank = m.ink_ratio < qc.blank_max_ink_ratio
        if blank:
            out.append(_finding(qc, "blank_page", f"the page looks blank ({100 * m.ink_ratio:.3f}% ink)",
                                value=m.ink_ratio, limit=qc.blank_max_ink_ratio, **where))
        elif m.sharpness < qc.min_sharpness:
            out.append(_finding(qc, "blur", f"the page is blurred (sharpness {m.sharpness:.0f} < {qc.min_sharpness:g})",
                                value=m.sharpness, limit=qc.min_sharpness, **where))
        if not blank and abs(m.skew_degrees) > qc.max_skew_degrees:
            out.append(_finding(qc, "skew", f"text is skewed by {m.skew_degrees:+.1f}° (limit {qc.max_skew_degrees:g}°)",
                                value=m.skew_degrees, limit=qc.max_skew_degrees, **where))
        if m.border_sides:
            out.append(_finding(qc, "border", f"dark scanner border on {m.border_sides} side(s): crop needed",
                                value=m.border_sides, limit=0, **where))
    return [f for f in out if f]


def check_batch(inv: BatchInventory, qc: QcSettings) -> list[Finding]:
    """Batch-level rules: one format per batch, and catalogue ↔ files reconciliation."""
    out: list[Finding | None] = []
    formats = Counter(f.format.name for f in inv.files if f.format.media != "av")
    if len(formats) > 1:
        listed = ", ".join(f"{n} × {k}" for k, n in formats.most_common())
        out.append(_finding(qc, "mixed_formats", f"more than one master format in the batch: {listed}"))
    for r in reconcile(inv):
        f = _finding(qc, "catalogue_mismatch", r.message, refcode=r.refcode, path=r.path)
        if f and r.kind == "not-scanned":
            f = Finding(**{**f.as_dict(), "severity": "warning"})  # expected in a catalogue, not a fault
        out.append(f)
    return [f for f in out if f]


@dataclass(frozen=True)
class Mismatch:
    kind: str  # not-scanned | no-files | not-catalogued | page-count
    refcode: str
    path: str
    message: str
    expected: int | None = None
    found: int | None = None


def reconcile(inv: BatchInventory) -> list[Mismatch]:
    """Catalogue ↔ files: items without images, images without an item, page counts that differ."""
    if inv.catalogue.path is None:
        return []
    pages: Counter[str] = Counter()
    files: dict[str, list[str]] = {}
    for f in inv.files:
        pages[f.refcode] += len(f.pages)
        files.setdefault(f.refcode, []).append(f.relpath)
    out = []
    for row in inv.catalogue.rows:
        ref = str(row.refcode)
        if ref not in files and not row.files:
            out.append(Mismatch("not-scanned", ref, "", f"catalogue row {row.row}: {ref} lists no file (not scanned yet?)"))
        elif ref not in files:
            out.append(Mismatch("no-files", ref, ";".join(row.files),
                                f"catalogue row {row.row}: {', '.join(row.files)} for {ref} not found in the batch"))
        elif row.pages is not None and row.pages != pages[ref] and any(
            f.format.media != "av" for f in inv.files if f.refcode == ref
        ):
            out.append(Mismatch("page-count", ref, ";".join(files[ref]),
                                f"catalogue row {row.row} says {row.pages} pages, the batch has {pages[ref]}",
                                row.pages, pages[ref]))
    for f in inv.files:
        if not f.catalogued:
            out.append(Mismatch("not-catalogued", f.refcode, f.relpath, f"{f.relpath}: {f.refcode} is not in the catalogue"))
    return out
