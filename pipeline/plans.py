"""Five-year plans (规划) as data: goals an archive's progress is measured against.

Plans live in ``configs/plans/*.yaml``, one per seed document, each goal quoting the sentence it
comes from so a reader can check it against the plan itself.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pipeline.errors import ConfigError

Metric = Literal[
    # rates: a fraction of holdings (or of what is digitised)
    "digitisation_rate", "recognition_rate", "transcription_rate", "catalogue_rate",
    # counts: absolute numbers reached since the plan's start
    "pages_digitised", "catalogue_entries", "items_opened",
]
Unit = Literal["item", "file_unit", "page", "minute", "catalogue_entry"]

# Which units each metric may be counted in.
UNITS: dict[str, tuple[str, ...]] = {
    "digitisation_rate": ("item", "file_unit", "page"),
    "recognition_rate": ("page",),
    "transcription_rate": ("minute",),
    "catalogue_rate": ("item", "file_unit"),
    "pages_digitised": ("page",),
    "catalogue_entries": ("catalogue_entry",),
    "items_opened": ("item", "file_unit"),
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Period(_Model):
    start: date
    end: date

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.end < self.start:
            raise ValueError("period ends before it starts")
        return self


class Source(_Model):
    seed: str
    published: date | None = None


class Goal(_Model):
    institution_class: str  # "*" applies to every institution
    metric: Metric
    unit: Unit
    # A fraction in [0, 1] for *_rate metrics, an absolute number for counts; null: no figure given.
    target: float | None = Field(None, ge=0)
    quote: str
    # 门类代码 the goal is limited to (WS 文书, SX 声像, MS 民生 …); empty: all records.
    categories: list[str] = []
    by: date | None = None  # a deadline before the plan's end

    @property
    def is_rate(self) -> bool:
        return self.metric.endswith("_rate")

    @model_validator(mode="after")
    def _consistent(self) -> Goal:
        if self.is_rate and self.target is not None and self.target > 1:
            raise ValueError(f"a rate target is a fraction in [0, 1], got {self.target}")
        if self.unit not in UNITS[self.metric]:
            raise ValueError(f"{self.metric} is counted in {' or '.join(UNITS[self.metric])}, not {self.unit}")
        return self

    def applies_to(self, institution_class: str) -> bool:
        return self.institution_class in ("*", institution_class)


class Plan(_Model):
    id: str
    title: str
    body: str
    period: Period
    source: Source
    goals: list[Goal]

    def goal(self, metric: Metric, institution_class: str) -> Goal | None:
        """The most specific goal for a metric and institution class (all records, no category)."""
        found = [g for g in self.goals_for(institution_class) if g.metric == metric and not g.categories]
        return found[0] if found else None

    def goals_for(self, institution_class: str) -> list[Goal]:
        """Goals that apply to an institution class, its own before the plan-wide ("*") ones."""
        found = [g for g in self.goals if g.applies_to(institution_class)]
        return sorted(found, key=lambda g: g.institution_class == "*")

    def deadline(self, goal: Goal) -> date:
        return goal.by or self.period.end


def load_plan(path: Path) -> Plan:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return Plan.model_validate(data)
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise ConfigError(f"plan {path}: {exc}") from exc


def load_plans(plans_dir: Path) -> dict[str, Plan]:
    plans = {}
    for path in sorted(plans_dir.glob("*.yaml")):
        plan = load_plan(path)
        plans[plan.id] = plan
    return plans


def find_plan(plans_dir: Path, plan_id: str) -> Plan:
    plans = load_plans(plans_dir)
    if plan_id not in plans:
        raise ConfigError(f"no plan {plan_id!r} in {plans_dir} (have: {', '.join(plans) or 'none'})")
    return plans[plan_id]
