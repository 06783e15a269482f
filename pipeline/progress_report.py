"""Progress as people like to see it: a chart of 数字化率 over time against the goal, in an HTML page.

The chart is drawn with Pillow (already installed for scans) rather than a plotting library, to
keep the install lean; labels use a CJK font when Debian's fonts-noto-cjk is present.
"""

from __future__ import annotations

import base64
import html
import io
from datetime import date, timedelta
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from pipeline.progress import ProgressReport, _pct, _value, metric_label

_FONTS = ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def _font(size: int) -> ImageFont.ImageFont:
    for path in _FONTS:
        if Path(path).exists():
            return ImageFont.truetype(path, size, index=2 if path.endswith(".ttc") else 0)
    return ImageFont.load_default()


def chart_png(report: ProgressReport, width: int = 900, height: int = 420) -> bytes:
    """数字化率 (by 件) over the plan period: the line so far, the goal as a dashed line."""
    img = Image.new("RGB", (width, height), "white")
    d = ImageDraw.Draw(img)
    left, right, top, bottom = 70, width - 30, 50, height - 50
    start, end = report.plan.period.start, max(report.plan.period.end, report.as_of)
    span = max((end - start).days, 1)

    def x(day: date) -> float:
        return left + (right - left) * min(max((day - start).days / span, 0), 1)

    def y(rate: float) -> float:
        return bottom - (bottom - top) * rate

    f, small = _font(18), _font(14)
    d.text((left, 12), f"数字化率（按件） — {report.plan.title}", fill="black", font=f)
    for r in (0, 0.25, 0.5, 0.75, 1.0):
        d.line([(left, y(r)), (right, y(r))], fill=(225, 225, 225))
        d.text((12, y(r) - 9), f"{100 * r:.0f}%", fill=(90, 90, 90), font=small)
    for year in range(start.year, end.year + 2):
        day = date(year, 1, 1)
        if start <= day <= end:
            d.line([(x(day), bottom), (x(day), bottom + 5)], fill="black")
            d.text((x(day) - 18, bottom + 8), str(year), fill=(90, 90, 90), font=small)
    d.line([(left, top), (left, bottom), (right, bottom)], fill="black", width=2)
    goal = report.digitisation_goal
    if goal and goal.target is not None:
        gy = y(goal.target)
        for x0 in range(left, right, 16):
            d.line([(x0, gy), (min(x0 + 9, right), gy)], fill=(200, 30, 30), width=2)
        d.text((right - 170, gy - 24), f"目标 {100 * goal.target:.0f}%（{goal.institution_class}）", fill=(200, 30, 30), font=small)
    points = [(x(day), y(rate)) for day, rate in report.series]
    if points:
        first_day = report.series[0][0] - timedelta(days=1)
        points.insert(0, (x(first_day), y(0)))
        points.append((x(report.as_of), points[-1][1]))
        d.line(points, fill=(30, 90, 200), width=3)
        d.ellipse([points[-1][0] - 5, points[-1][1] - 5, points[-1][0] + 5, points[-1][1] + 5], fill=(30, 90, 200))
        d.text((points[-1][0] - 60, points[-1][1] - 26), _pct(report.series[-1][1]), fill=(30, 90, 200), font=f)
    d.line([(x(report.as_of), top), (x(report.as_of), bottom)], fill=(150, 150, 150))
    d.text((x(report.as_of) + 4, top), f"截至 {report.as_of}", fill=(120, 120, 120), font=small)
    buf = io.BytesIO()
    img.save(buf, "PNG", optimize=True)
    return buf.getvalue()


def _table(headers: list[str], rows: list[list[object]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(report: ProgressReport, png: bytes | None = None) -> str:
    png = png or chart_png(report)
    p = report.plan
    fonds_rows = [[r.institution, r.institution_class, r.key, r.items_target, r.items_digitised, r.pages_digitised,
                   r.pages_recognised, _pct(r.digitisation_rate), _pct(r.recognition_rate)]
                  for r in [*report.fonds, report.total]]
    goal_rows = [[g.institution, metric_label(g.goal),
                  _value(g, g.actual), "—" if g.goal.target is None else _value(g, g.goal.target),
                  {True: "已达到", False: "未达到", None: "—"}[g.met], g.deadline,
                  "—" if g.needed_per_day is None else f"{g.needed_per_day:,.2f}/天",
                  g.projected or "—", g.goal.quote] for g in report.goals]
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>规划进度 — {html.escape(p.title)}</title>
<style>
body{{font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:2em;color:#222}}
table{{border-collapse:collapse;font-size:.9em;margin-bottom:1.5em}} td,th{{border:1px solid #ddd;padding:.3em .6em}}
th{{background:#f4f4f4}} h2{{font-size:1.15em;border-bottom:1px solid #ccc}}
</style></head><body>
<h1>{html.escape(p.title)}：进度</h1>
<p>{html.escape(p.body)} · 规划期 {p.period.start} 至 {p.period.end} · 截至 {report.as_of} · 来源 {html.escape(p.source.seed)}</p>
<img alt="数字化率随时间变化与目标" src="data:image/png;base64,{base64.b64encode(png).decode()}">
<h2>目标完成情况</h2>
{_table(["机构", "指标", "当前", "目标", "状态", "期限", "每天需完成", "预计达到", "规划原文"], goal_rows)}
<h2>按年度（目录中的件）</h2>
{_table(["年度", "件", "已数字化件", "已数字化页", "已识别页", "数字化率", "文字识别率"],
        [[r.key, r.items_target, r.items_digitised, r.pages_digitised, r.pages_recognised, _pct(r.digitisation_rate),
          _pct(r.recognition_rate)] for r in report.years])}
<h2>按全宗</h2>
{_table(["机构", "机构类别", "全宗", "应数字化件", "已数字化件", "已数字化页", "已识别页", "数字化率", "文字识别率"], fonds_rows)}
</body></html>
"""


def write_progress(report: ProgressReport, out_dir: Path) -> Path:
    """progress.{html,png,json,csv} in ``out_dir``; returns the HTML page's path."""
    import json

    from pipeline.export.writers import atomic_write
    from pipeline.progress import to_csv

    png = chart_png(report)
    atomic_write(out_dir / "progress.png", png)
    atomic_write(out_dir / "progress.html", render_html(report, png).encode())
    atomic_write(out_dir / "progress.json", json.dumps(report.as_dict(), ensure_ascii=False, indent=1).encode())
    atomic_write(out_dir / "progress.csv", to_csv(report).encode("utf-8-sig"))
    return out_dir / "progress.html"
