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

Metric = Literal["digitisation_rate", "recognition_rate", "transcription_rate", "count"]
Unit = Literal["item", "file_unit", "page", "minute", "catalogue_entry"]


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
    # A rate in [0, 1] for *_rate metrics, an absolute number for "count"; null: no figure given.
    target: float | None = Field(None, ge=0)
    quote: str

    @model_validator(mode="after")
    def _rate_range(self) -> Goal:
        if self.metric.endswith("_rate") and self.target is not None and self.target > 1:
            raise ValueError(f"a rate target is a fraction in [0, 1], got {self.target}")
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
        """The most specific goal for a metric and institution class."""
        found = [g for g in self.goals if g.metric == metric and g.applies_to(institution_class)]
        found.sort(key=lambda g: g.institution_class == "*")
        return found[0] if found else None


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
