"""Progress against a plan: 数字化率, 文字识别率 and count goals, per institution and 全宗.

Definitions (STANDARDS.md):
* 数字化率 (by 件) = items digitised ÷ items that should be digitised (holdings file, else the
  catalogue); by page likewise with pages. Work done before dangan comes from the holdings file.
* 文字识别率 = pages whose text is recognised and indexed ÷ digitised pages. A failed page counts
  as digitised, not recognised.
* 文件级目录 = catalogue entries; counts goals (pages, 目录条, 开放卷) are counted within the plan period.
* Audio and video (声像) count by minutes: digitised, of detected speech, transcribed, and waiting for a
  speech model; 语音识别率 = minutes of recordings transcribed ÷ minutes of recordings digitised. An
  item with a recording counts as digitised like an item with pages.
Everything is computed from the store's rows as of a moment, so a re-run never counts twice.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta

from pipeline.config import Settings
from pipeline.plans import Goal, Plan
from pipeline.refcode import RefCode
from pipeline.store import SQLiteStore

RECENT_DAYS = 30  # the window for "the recent rate"

METRIC_ZH = {
    "digitisation_rate": "数字化率", "recognition_rate": "文字识别率", "transcription_rate": "语音识别率",
    "catalogue_rate": "电子目录率", "pages_digitised": "数字化页数", "catalogue_entries": "文件级目录条数",
    "items_opened": "开放数量",
}


def metric_label(goal: Goal) -> str:
    label = METRIC_ZH[goal.metric]
    if goal.metric == "digitisation_rate":
        label += "（按页）" if goal.unit == "page" else "（按卷）" if goal.unit == "file_unit" else "（按件）"
    if goal.categories:
        label += "（门类 " + "/".join(goal.categories) + "）"
    return label


@dataclass
class Tally:
    key: str  # 全宗号, institution or 门类
    institution: str
    institution_class: str
    items_target: int = 0
    items_digitised: int = 0
    pages_target: int | None = 0
    pages_digitised: int = 0
    pages_recognised: int = 0
    catalogue_entries: int = 0
    av_seconds: float = 0.0
    speech_seconds: float = 0.0
    transcribed_seconds: float = 0.0
    waiting_seconds: float = 0.0

    @property
    def transcription_rate(self) -> float | None:
        return self.transcribed_seconds / self.av_seconds if self.av_seconds else None

    @property
    def digitisation_rate(self) -> float | None:
        return min(1.0, self.items_digitised / self.items_target) if self.items_target else None

    @property
    def page_digitisation_rate(self) -> float | None:
        return min(1.0, self.pages_digitised / self.pages_target) if self.pages_target else None

    @property
    def recognition_rate(self) -> float | None:
        return self.pages_recognised / self.pages_digitised if self.pages_digitised else None

    @property
    def catalogue_rate(self) -> float | None:
        return min(1.0, self.catalogue_entries / self.items_target) if self.items_target else None

    def add(self, other: Tally) -> None:
        self.items_target += other.items_target
        self.items_digitised += other.items_digitised
        self.pages_target = None if self.pages_target is None or other.pages_target is None \
            else self.pages_target + other.pages_target
        self.pages_digitised += other.pages_digitised
        self.pages_recognised += other.pages_recognised
        self.catalogue_entries += other.catalogue_entries
        self.av_seconds += other.av_seconds
        self.speech_seconds += other.speech_seconds
        self.transcribed_seconds += other.transcribed_seconds
        self.waiting_seconds += other.waiting_seconds

    def as_dict(self) -> dict:
        return {**asdict(self), "digitisation_rate": self.digitisation_rate,
                "page_digitisation_rate": self.page_digitisation_rate,
                "recognition_rate": self.recognition_rate, "catalogue_rate": self.catalogue_rate,
                "av_minutes": round(self.av_seconds / 60, 2), "speech_minutes": round(self.speech_seconds / 60, 2),
                "transcribed_minutes": round(self.transcribed_seconds / 60, 2),
                "waiting_minutes": round(self.waiting_seconds / 60, 2), "transcription_rate": self.transcription_rate}


@dataclass
class GoalStatus:
    institution: str
    goal: Goal
    actual: float | None  # a fraction for rates, a number for counts; None: not measurable here
    deadline: date
    remaining: float | None = None  # units still to do to reach the target
    recent_per_day: float | None = None
    needed_per_day: float | None = None
    projected: date | None = None
    note: str = ""

    @property
    def met(self) -> bool | None:
        if self.goal.target is None or self.actual is None:
            return None
        return self.actual >= self.goal.target

    def as_dict(self) -> dict:
        return {"institution": self.institution, "goal": self.goal.model_dump(mode="json"), "actual": self.actual,
                "met": self.met, "deadline": self.deadline.isoformat(), "remaining": self.remaining,
                "recent_per_day": self.recent_per_day, "needed_per_day": self.needed_per_day,
                "projected": self.projected.isoformat() if self.projected else None, "note": self.note}


@dataclass
class ProgressReport:
    plan: Plan
    as_of: date
    fonds: list[Tally]
    institutions: list[Tally]
    goals: list[GoalStatus]
    series: list[tuple[date, float]] = field(default_factory=list)  # 数字化率 over time (all institutions)
    # Per 年度 of the records (from the catalogue: holdings files carry no years).
    years: list[Tally] = field(default_factory=list)

    @property
    def total(self) -> Tally:
        t = Tally("合计", "", "", pages_target=0)
        for row in self.institutions:
            t.add(row)
        return t

    @property
    def digitisation_goal(self) -> Goal | None:
        classes = {r.institution_class for r in self.institutions}
        return next((g.goal for g in self.goals if g.goal.metric == "digitisation_rate" and not g.goal.categories
                     and g.goal.institution_class in classes), None)

    def as_dict(self) -> dict:
        return {
            "plan": {"id": self.plan.id, "title": self.plan.title, "body": self.plan.body,
                     "period": self.plan.period.model_dump(mode="json"), "seed": self.plan.source.seed},
            "as_of": self.as_of.isoformat(),
            "fonds": [r.as_dict() for r in self.fonds],
            "institutions": [r.as_dict() for r in self.institutions],
            "total": self.total.as_dict(),
            "goals": [g.as_dict() for g in self.goals],
            "series": [{"date": d.isoformat(), "digitisation_rate": r} for d, r in self.series],
            "years": [r.as_dict() for r in self.years],
        }


def _category(refcode: str) -> str:
    try:
        return RefCode.parse(refcode).category
    except ValueError:
        return ""


def progress_report(store: SQLiteStore, plan: Plan, settings: Settings, as_of: date | None = None) -> ProgressReport:
    as_of = as_of or date.today()
    until = (datetime.combine(as_of, datetime.max.time())).isoformat()
    start, end = plan.period.start.isoformat(), plan.period.end.isoformat()
    default_inst = (settings.progress.institution, settings.progress.institution_class)

    holdings = {h["fonds"]: h for h in store.holdings_as_of(as_of.isoformat())}
    items = store.item_progress(until)

    fonds: dict[str, Tally] = {}

    def tally_for(f: str) -> Tally:
        if f not in fonds:
            h = holdings.get(f)
            inst, cls = (h["institution"], h["institution_class"]) if h else default_inst
            fonds[f] = Tally(f, inst, cls)
        return fonds[f]

    cats: dict[tuple[str, str], Tally] = {}
    years: dict[str, Tally] = {}
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    pages_known: dict[str, bool] = defaultdict(lambda: True)
    for it in items:
        t = tally_for(it["fonds"])
        t.catalogue_entries += it["catalogue_row"] is not None
        t.items_target += 1  # replaced by the holdings figure below where there is one
        digitised = it["first_scan"] is not None
        t.items_digitised += digitised
        t.pages_digitised += it["pages"]
        t.pages_recognised += it["recognised"]
        if it["catalogue_pages"] is None:
            pages_known[it["fonds"]] = False
        else:
            t.pages_target = (t.pages_target or 0) + it["catalogue_pages"]
        y = years.setdefault(str(it["year"] or "未知"), Tally(str(it["year"] or "未知"), "", "", pages_target=None))
        y.items_target += 1
        y.items_digitised += digitised
        y.pages_digitised += it["pages"]
        y.pages_recognised += it["recognised"]
        c = cats.setdefault((t.institution, _category(it["refcode"])), Tally(_category(it["refcode"]), t.institution, t.institution_class))
        c.items_target += 1
        c.items_digitised += digitised
        inst = t.institution
        counts[inst]["entries_in_period"] += bool(it["catalogue_row"] is not None
                                                  and start <= it["catalogued_at"][:10] <= end)
        counts[inst]["open_file_units"] += it["open_status"] == "开放" and _level(it["refcode"]) == "file_unit"
        counts[inst]["open_items"] += it["open_status"] == "开放" and _level(it["refcode"]) == "item"

    for r in store.av_progress(until):
        t = tally_for(r["fonds"])
        t.av_seconds += r["av_seconds"]
        t.speech_seconds += r["speech_seconds"]
        t.transcribed_seconds += r["transcribed_seconds"]
        t.waiting_seconds += r["waiting_seconds"]

    for f, h in holdings.items():
        t = tally_for(f)
        t.items_target = h["items"]
        t.items_digitised += h["items_done"]
        t.pages_digitised += h["pages_done"]
        t.pages_target = h["pages"]
    for f, t in fonds.items():
        if f not in holdings and not pages_known[f]:
            t.pages_target = None

    institutions: dict[str, Tally] = {}
    for t in fonds.values():
        inst = institutions.setdefault(t.institution, Tally(t.institution, t.institution, t.institution_class))
        inst.add(t)

    daily = store.daily_digitised(until)
    goals = []
    for inst in institutions.values():
        mine = [r for r in daily if tally_for(r["fonds"]).institution == inst.institution]
        c = counts[inst.institution]
        c["pages_in_period"] = sum(r["pages"] for r in mine if start <= r["day"] <= end)
        for goal in plan.goals_for(inst.institution_class):
            goals.append(_status(goal, plan, inst, c, cats, mine, as_of))
    series = _series(daily, institutions, holdings)
    return ProgressReport(plan, as_of, sorted(fonds.values(), key=lambda t: (t.institution, t.key)),
                          sorted(institutions.values(), key=lambda t: t.key), goals, series,
                          sorted(years.values(), key=lambda t: t.key))


def _level(refcode: str) -> str:
    try:
        return RefCode.parse(refcode).level
    except ValueError:
        return ""


def _recent(daily, as_of: date, field_: str) -> float:
    since = (as_of - timedelta(days=RECENT_DAYS)).isoformat()
    return sum(r[field_] for r in daily if r["day"] > since) / RECENT_DAYS


def _status(goal: Goal, plan: Plan, inst: Tally, c: dict, cats, daily, as_of: date) -> GoalStatus:
    deadline = plan.deadline(goal)
    status = GoalStatus(inst.institution, goal, None, deadline)
    days_left = (deadline - as_of).days
    m = goal.metric
    per_day_field = None
    done = total = None
    if m == "digitisation_rate" and goal.categories:
        sel = [t for (i, k), t in cats.items() if i == inst.institution and k in goal.categories]
        total = sum(t.items_target for t in sel)
        done = sum(t.items_digitised for t in sel)
        status.actual = done / total if total else None
        status.note = "counted over catalogued items of 门类 " + "/".join(goal.categories)
    elif m == "digitisation_rate" and goal.unit == "page":
        done, total, per_day_field = inst.pages_digitised, inst.pages_target, "pages"
        status.actual = inst.page_digitisation_rate
    elif m == "digitisation_rate":
        done, total, per_day_field = inst.items_digitised, inst.items_target, "items"
        status.actual = inst.digitisation_rate
    elif m == "recognition_rate":
        status.actual = inst.recognition_rate
    elif m == "catalogue_rate":
        status.actual = inst.catalogue_rate
    elif m == "pages_digitised":
        status.actual, per_day_field = float(c["pages_in_period"]), "pages"
        status.note = f"pages digitised {plan.period.start} – {plan.period.end}"
    elif m == "catalogue_entries":
        status.actual = float(c["entries_in_period"])
        status.note = f"catalogue entries added {plan.period.start} – {plan.period.end}"
    elif m == "items_opened":
        status.actual = float(c["open_file_units"] if goal.unit == "file_unit" else c["open_items"])
    elif m == "transcription_rate":
        status.actual = inst.transcription_rate
        if inst.waiting_seconds:
            status.note = f"{inst.waiting_seconds / 60:.1f} min of speech await a speech model"
    if goal.target is None or status.actual is None:
        return status
    if goal.is_rate and done is not None and total:
        status.remaining = max(0, math.ceil(goal.target * total) - done)
    elif not goal.is_rate:
        status.remaining = max(0.0, goal.target - status.actual)
    if status.remaining is not None and per_day_field:
        recent = _recent(daily, as_of, per_day_field)
        status.recent_per_day = round(recent, 2)
        status.needed_per_day = round(status.remaining / days_left, 3) if days_left > 0 else None
        if status.remaining == 0:
            status.projected = as_of
        elif recent > 0 and status.remaining / recent < 36500:
            status.projected = as_of + timedelta(days=math.ceil(status.remaining / recent))
        elif recent > 0:
            status.note = (status.note + "; " if status.note else "") + "not within a century at the recent rate"
    return status


def _series(daily, institutions: dict[str, Tally], holdings) -> list[tuple[date, float]]:
    """Cumulative 数字化率 (by 件) of all institutions together, one point per day with scans."""
    target = sum(t.items_target for t in institutions.values())
    if not target:
        return []
    done = sum(h["items_done"] for h in holdings.values())
    per_day: dict[str, int] = defaultdict(int)
    for r in daily:
        per_day[r["day"]] += r["items"]
    out = []
    for day in sorted(per_day):
        done += per_day[day]
        out.append((date.fromisoformat(day), min(1.0, done / target)))
    return out


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def _value(g: GoalStatus, x: float | None) -> str:
    if x is None:
        return "—"
    return _pct(x) if g.goal.is_rate else f"{x:,.0f}"


def render_text(report: ProgressReport) -> str:
    p = report.plan
    lines = [f"规划 {p.title} ({p.period.start:%Y}–{p.period.end:%Y})  截至 {report.as_of}"]
    header = f"{'机构':<10}{'全宗':<8}{'应数字化件':>10}{'已数字化件':>10}{'页':>8}{'已识别页':>8}{'数字化率':>9}{'文字识别率':>10}"
    lines.append(header)
    for r in [*report.fonds, report.total]:
        lines.append(f"{r.institution[:10]:<10}{r.key:<8}{r.items_target:>10}{r.items_digitised:>10}{r.pages_digitised:>8}"
                     f"{r.pages_recognised:>8}{_pct(r.digitisation_rate):>9}{_pct(r.recognition_rate):>10}")
    if report.total.av_seconds:
        lines.append(f"{'声像':<10}{'全宗':<8}{'时长(分)':>10}{'语音(分)':>10}{'已转写(分)':>10}{'待转写(分)':>10}{'语音识别率':>10}")
        for r in [*report.fonds, report.total]:
            if r.av_seconds:
                lines.append(f"{r.institution[:10]:<10}{r.key:<8}{r.av_seconds / 60:>10.1f}{r.speech_seconds / 60:>10.1f}"
                             f"{r.transcribed_seconds / 60:>10.1f}{r.waiting_seconds / 60:>10.1f}"
                             f"{_pct(r.transcription_rate):>10}")
    for g in report.goals:
        target = "（无量化目标）" if g.goal.target is None else f"目标 {_value(g, g.goal.target)}"
        state = {True: "已达到", False: "未达到", None: ""}[g.met]
        line = f"· {g.institution} {metric_label(g.goal)}: {_value(g, g.actual)} {target} {state} «{g.goal.quote}»"
        if g.met is False and g.needed_per_day is not None:
            unit = "页" if g.goal.unit == "page" or g.goal.metric == "pages_digitised" else "件"
            line += f"\n    还需 {g.remaining:,.0f}{unit}，到 {g.deadline} 每天需 {g.needed_per_day:,.1f}{unit}"
            if g.projected:
                line += f"；按近{RECENT_DAYS}天速度 ({g.recent_per_day:,.1f}{unit}/天) 预计 {g.projected} 达到"
        if g.note:
            line += f"  ({g.note})"
        lines.append(line)
    return "\n".join(lines)


def to_csv(report: ProgressReport) -> str:
    import csv
    import io

    buf = io.StringIO()
    cols = ["institution", "institution_class", "key", "items_target", "items_digitised", "pages_target",
            "pages_digitised", "pages_recognised", "catalogue_entries", "digitisation_rate", "recognition_rate",
            "av_minutes", "speech_minutes", "transcribed_minutes", "waiting_minutes", "transcription_rate"]
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore")
    w.writeheader()
    for r in [*report.fonds, report.total]:
        w.writerow(r.as_dict())
    return buf.getvalue()
