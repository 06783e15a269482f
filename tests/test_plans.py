import pytest

from pipeline.config import load_settings
from pipeline.errors import ConfigError
from pipeline.plans import find_plan, load_plan


def test_tianjin_plan_goals_by_institution_class():
    plan = find_plan(load_settings().plans_dir, "tianjin-2021-2025")
    assert plan.goal("digitisation_rate", "市档案馆").target == 0.80
    assert plan.goal("digitisation_rate", "各区档案馆").target == 1.0
    assert plan.goal("digitisation_rate", "市属国有企业").target == 0.70
    rec = plan.goal("recognition_rate", "市档案馆")
    assert rec.target is None and "文字识别" in rec.quote
    assert plan.source.seed.startswith("000_")


def test_rate_above_one_is_rejected(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text(
        "id: x\ntitle: t\nbody: b\nperiod: {start: 2021-01-01, end: 2025-12-31}\nsource: {seed: s}\n"
        "goals:\n  - {institution_class: A, metric: digitisation_rate, unit: item, target: 80, quote: q}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="fraction"):
        load_plan(p)


def test_unknown_plan_names_the_known_ones(tmp_path):
    with pytest.raises(ConfigError, match="tianjin-2021-2025"):
        find_plan(load_settings().plans_dir, "nowhere")
