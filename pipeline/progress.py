"""Progress against a plan: 数字化率 and 文字识别率 per 全宗, from the store's rows.

数字化率 (by 件) = catalogued items with at least one page ÷ catalogued items (the catalogue lists
what should be digitised). 文字识别率 = pages whose text is recognised and indexed ÷ digitised
pages. A failed page counts as digitised but not recognised.

Audio and video (声像) count by minutes: minutes digitised, minutes of detected speech, minutes of
speech transcribed and minutes waiting for a speech model; 语音识别率 = transcribed ÷ speech minutes.
An item with a recording counts as digitised like an item with pages.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from pipeline.plans import Goal, Plan
from pipeline.store import SQLiteStore


@dataclass(frozen=True)
class Progress:
    fonds: str
    items: int
    items_digitised: int
    pages: int
    pages_recognised: int
    av_seconds: float = 0.0
    speech_seconds: float = 0.0
    transcribed_seconds: float = 0.0
    waiting_seconds: float = 0.0

    @property
    def speech_recognition_rate(self) -> float | None:
        return self.transcribed_seconds / self.speech_seconds if self.speech_seconds else None

    @property
    def digitisation_rate(self) -> float | None:
        return self.items_digitised / self.items if self.items else None

    @property
    def recognition_rate(self) -> float | None:
        return self.pages_recognised / self.pages if self.pages else None

    def as_dict(self) -> dict:
        return {**asdict(self), "digitisation_rate": self.digitisation_rate, "recognition_rate": self.recognition_rate,
                "av_minutes": round(self.av_seconds / 60, 2), "speech_minutes": round(self.speech_seconds / 60, 2),
                "transcribed_minutes": round(self.transcribed_seconds / 60, 2),
                "waiting_minutes": round(self.waiting_seconds / 60, 2),
                "speech_recognition_rate": self.speech_recognition_rate}


@dataclass(frozen=True)
class ProgressReport:
    plan: Plan
    institution_class: str
    rows: list[Progress]
    total: Progress

    @property
    def digitisation_goal(self) -> Goal | None:
        return self.plan.goal("digitisation_rate", self.institution_class)

    @property
    def recognition_goal(self) -> Goal | None:
        return self.plan.goal("recognition_rate", self.institution_class)

    def as_dict(self) -> dict:
        def goal(g: Goal | None) -> dict | None:
            return g.model_dump(mode="json") if g else None

        return {
            "plan": {"id": self.plan.id, "title": self.plan.title, "period": self.plan.period.model_dump(mode="json")},
            "institution_class": self.institution_class,
            "goals": {"digitisation_rate": goal(self.digitisation_goal), "recognition_rate": goal(self.recognition_goal)},
            "fonds": [r.as_dict() for r in self.rows],
            "total": self.total.as_dict(),
        }


def progress_report(store: SQLiteStore, plan: Plan, institution_class: str) -> ProgressReport:
    av = {r["fonds"]: r for r in store.av_progress()}
    rows = [
        Progress(r["fonds"], r["items"], r["items_digitised"], r["pages"], r["pages_recognised"],
                 *((av[r["fonds"]]["av_seconds"], av[r["fonds"]]["speech_seconds"],
                    av[r["fonds"]]["transcribed_seconds"], av[r["fonds"]]["waiting_seconds"])
                   if r["fonds"] in av else ()))
        for r in store.fonds_progress()
    ]
    total = Progress(
        "合计",
        sum(r.items for r in rows),
        sum(r.items_digitised for r in rows),
        sum(r.pages for r in rows),
        sum(r.pages_recognised for r in rows),
        sum(r.av_seconds for r in rows),
        sum(r.speech_seconds for r in rows),
        sum(r.transcribed_seconds for r in rows),
        sum(r.waiting_seconds for r in rows),
    )
    return ProgressReport(plan, institution_class, rows, total)


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def render_text(report: ProgressReport) -> str:
    g = report.digitisation_goal
    lines = [
        f"规划 {report.plan.title} ({report.plan.period.start:%Y}–{report.plan.period.end:%Y}), {report.institution_class}",
        f"目标 数字化率 {_pct(g.target) if g else '—'}" + (f"  «{g.quote}»" if g else ""),
        f"{'全宗':<8}{'件(应数字化)':>12}{'已数字化件':>10}{'页':>6}{'已识别页':>8}{'数字化率':>10}{'文字识别率':>10}",
    ]
    for r in [*report.rows, report.total]:
        lines.append(
            f"{r.fonds:<8}{r.items:>12}{r.items_digitised:>10}{r.pages:>6}{r.pages_recognised:>8}"
            f"{_pct(r.digitisation_rate):>10}{_pct(r.recognition_rate):>10}"
        )
    if report.total.av_seconds:
        lines.append(f"{'声像':<8}{'时长(分)':>10}{'语音(分)':>10}{'已识别(分)':>10}{'待识别(分)':>10}{'语音识别率':>10}")
        for r in [*report.rows, report.total]:
            if r.av_seconds:
                lines.append(f"{r.fonds:<8}{r.av_seconds / 60:>10.1f}{r.speech_seconds / 60:>10.1f}"
                             f"{r.transcribed_seconds / 60:>10.1f}{r.waiting_seconds / 60:>10.1f}"
                             f"{_pct(r.speech_recognition_rate):>10}")
    if g and g.target is not None and report.total.digitisation_rate is not None:
        gap = g.target - report.total.digitisation_rate
        lines.append("已达到目标" if gap <= 0 else f"距目标还差 {100 * gap:.1f} 个百分点")
    return "\n".join(lines)
