"""Acceptance sampling: a reproducible random sample of pages for manual inspection, and the
verdict once an inspector has filled in the sheet (local rule: ≥ 5% sampled, pass at ≥ 95%)."""

from __future__ import annotations

import csv
import hashlib
import io
import math
import random
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import InputFileError
from pipeline.ingest.batch import PageRef

COLUMNS = ["档号", "页号", "文件", "文件内页序", "检查结果", "问题说明"]
PASS, FAIL = "合格", "不合格"


def draw_sample(pages: list[PageRef], ratio: float, seed_text: str) -> list[PageRef]:
    """At least ``ratio`` of the pages (and at least one), the same pages for the same batch."""
    if not pages:
        return []
    n = min(len(pages), max(1, math.ceil(ratio * len(pages))))
    seed = int(hashlib.sha256(seed_text.encode()).hexdigest()[:16], 16)
    chosen = random.Random(seed).sample(range(len(pages)), n)
    return [pages[i] for i in sorted(chosen)]


def sheet_csv(sample: list[PageRef]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(COLUMNS)
    for p in sample:
        w.writerow([p.refcode, p.page_no, p.relpath, p.index + 1, "", ""])
    return buf.getvalue()


@dataclass(frozen=True)
class Verdict:
    checked: int
    passed: int
    unchecked: int
    gate: float

    @property
    def rate(self) -> float | None:
        return self.passed / self.checked if self.checked else None

    @property
    def accepted(self) -> bool:
        return self.unchecked == 0 and self.rate is not None and self.rate >= self.gate


def read_verdict(sheet: Path, gate: float) -> Verdict:
    """Read a filled sheet: 检查结果 is 合格 or 不合格 (pass/fail and 1/0 are accepted too)."""
    try:
        text = sheet.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        text = sheet.read_bytes().decode("gb18030")
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows or "检查结果" not in rows[0]:
        raise InputFileError(sheet, "not a sample sheet: no 检查结果 column")
    passed = failed = unchecked = 0
    for i, row in enumerate(rows, start=2):
        v = (row.get("检查结果") or "").strip().lower()
        if v in (PASS, "pass", "1", "ok"):
            passed += 1
        elif v in (FAIL, "fail", "0"):
            failed += 1
        elif v == "":
            unchecked += 1
        else:
            raise InputFileError(sheet, f"row {i}: 检查结果 {v!r} is neither {PASS} nor {FAIL}")
    return Verdict(passed + failed, passed, unchecked, gate)
