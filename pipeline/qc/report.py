"""QC and reconciliation reports for one batch: HTML for people, JSON and CSV for machines."""

from __future__ import annotations

import csv
import html
import io
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from pipeline.export.writers import atomic_write
from pipeline.ingest.batch import BatchInventory, Failure, PageRef
from pipeline.qc.rules import Finding, Mismatch
from pipeline.qc.sample import sheet_csv

SEVERITY_ZH = {"error": "不合格", "warning": "警告"}


@dataclass(frozen=True)
class QcReport:
    folder: Path
    html: Path
    json: Path
    findings: int
    errors: int
    pages: int
    pages_failing: int


def _csv(rows: list[dict], columns: list[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def write_reports(folder: Path, inv: BatchInventory, findings: list[Finding], mismatches: list[Mismatch],
                  sample: list[PageRef], gate: float) -> QcReport:
    folder.mkdir(parents=True, exist_ok=True)
    pages = inv.numbered_pages()
    failing = {(f.refcode, f.page_no) for f in findings if f.severity == "error" and f.page_no}
    summary = {
        "batch": str(inv.batch_dir),
        "files": len(inv.files),
        "pages": len(pages),
        "ingest_failures": len(inv.failures),
        "findings": dict(Counter(f.rule for f in findings)),
        "errors": sum(f.severity == "error" for f in findings),
        "pages_failing": len(failing),
        "sample_pages": len(sample),
        "pass_gate": gate,
    }
    doc = {
        "summary": summary,
        "findings": [f.as_dict() for f in findings],
        "reconciliation": [m.__dict__ for m in mismatches],
        "failures": [f.__dict__ for f in inv.failures],
        "pages": [
            {"refcode": r.refcode, "page": r.page_no, "file": r.relpath, "index": r.index,
             "format": next(f.format.name for f in inv.files if f.path == r.path), "compression": p.compression,
             "width": p.facts.width, "height": p.facts.height, "dpi": p.facts.dpi, "mode": p.facts.mode,
             "born_digital": r.text is not None, **(p.metrics.as_dict() if p.metrics else {})}
            for r, p in pages
        ],
    }
    json_path = folder / "qc.json"
    atomic_write(json_path, json.dumps(doc, ensure_ascii=False, indent=1).encode())
    atomic_write(folder / "qc.csv", _csv([f.as_dict() for f in findings], list(Finding.__dataclass_fields__)).encode("utf-8-sig"))
    atomic_write(folder / "reconciliation.csv",
                 _csv([m.__dict__ for m in mismatches], list(Mismatch.__dataclass_fields__)).encode("utf-8-sig"))
    atomic_write(folder / "pages.csv", _csv(doc["pages"], list(doc["pages"][0]) if doc["pages"] else ["refcode"]).encode("utf-8-sig"))
    # utf-8-sig: Excel on Windows, the usual tool for filling in the sheet, then reads Chinese correctly
    atomic_write(folder / "sample-sheet.csv", sheet_csv(sample).encode("utf-8-sig"))
    html_path = folder / "qc.html"
    atomic_write(html_path, _html(summary, findings, mismatches, inv.failures, sample, doc["pages"]).encode())
    return QcReport(folder, html_path, json_path, len(findings), summary["errors"], len(pages), len(failing))


def _table(headers: list[str], rows: list[list[object]]) -> str:
    if not rows:
        return "<p class=none>无</p>"
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape('' if c is None else str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html(summary: dict, findings: list[Finding], mismatches: list[Mismatch], failures: list[Failure],
          sample: list[PageRef], pages: list[dict]) -> str:
    verdict = "通过" if summary["errors"] == 0 and not failures else "存在问题"
    cards = [("文件", summary["files"]), ("页", summary["pages"]), ("入库失败", summary["ingest_failures"]),
             ("不合格项", summary["errors"]), ("不合格页", summary["pages_failing"]), ("抽检页", summary["sample_pages"])]
    card_html = "".join(f"<div class=card><b>{v}</b><span>{k}</span></div>" for k, v in cards)
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>质量检查报告 — {html.escape(summary['batch'])}</title>
<style>
body{{font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:2em;color:#222}}
h1{{font-size:1.5em}} h2{{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ccc}}
.cards{{display:flex;gap:1em;flex-wrap:wrap}} .card{{border:1px solid #ddd;border-radius:6px;padding:.6em 1em;min-width:6em}}
.card b{{display:block;font-size:1.6em}} table{{border-collapse:collapse;font-size:.9em}}
td,th{{border:1px solid #ddd;padding:.3em .6em;text-align:left}} th{{background:#f4f4f4}}
.none{{color:#888}} .verdict{{font-weight:bold}}
</style></head><body>
<h1>纸质档案数字化质量检查报告</h1>
<p>批次 <code>{html.escape(summary['batch'])}</code> · 结论 <span class=verdict>{verdict}</span>
 · 抽检合格线 {100 * summary['pass_gate']:.0f}%</p>
<div class=cards>{card_html}</div>
<h2>检查发现（依据 DA/T 31-2017）</h2>
{_table(["级别", "规则", "档号", "页", "文件", "说明", "依据"],
        [[SEVERITY_ZH.get(f.severity, f.severity), f.rule, f.refcode, f.page_no or "", f.path, f.message, f.clause]
         for f in findings])}
<h2>目录与图像核对</h2>
{_table(["类型", "档号", "文件", "说明"], [[m.kind, m.refcode, m.path, m.message] for m in mismatches])}
<h2>入库失败的文件</h2>
{_table(["文件", "类型", "原因"], [[f.path, f.kind, f.reason] for f in failures])}
<h2>页面信息</h2>
{_table(["档号", "页", "文件", "格式", "压缩", "色彩", "像素", "分辨率(dpi)", "清晰度", "倾斜(°)", "墨迹占比"],
        [[p["refcode"], p["page"], p["file"], p["format"], p["compression"], p["mode"], f'{p["width"]}×{p["height"]}',
          p["dpi"] if p["dpi"] is not None else "未记录", p.get("sharpness"), p.get("skew_degrees"),
          f'{100 * p["ink_ratio"]:.2f}%' if p.get("ink_ratio") is not None else ""] for p in pages])}
<h2>人工抽检单（sample-sheet.csv）</h2>
<p>请逐页核对原件与图像，在 sample-sheet.csv 的“检查结果”列填写“合格”或“不合格”，然后运行
<code>dangan qc verdict sample-sheet.csv</code>。</p>
{_table(["档号", "页号", "文件", "文件内页序"], [[p.refcode, p.page_no, p.relpath, p.index + 1] for p in sample])}
</body></html>
"""
