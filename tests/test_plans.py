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


def test_unit_must_fit_the_metric(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text(
        "id: x\ntitle: t\nbody: b\nperiod: {start: 2021-01-01, end: 2025-12-31}\nsource: {seed: s}\n"
        "goals:\n  - {institution_class: A, metric: recognition_rate, unit: item, target: 0.5, quote: q}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="recognition_rate is counted in page"):
        load_plan(p)


def test_every_seed_has_a_plan_whose_quotes_are_in_the_seed():
    """Each goal quotes its plan; the quote must be found in the seed document (punctuation folded)."""
    import unicodedata
    from pathlib import Path

    from pipeline.plans import load_plans

    seeds = Path(__file__).resolve().parents[2] / "shared" / "seeds"
    assert seeds.is_dir(), f"the seed plans are expected at {seeds} (shared/ beside the checkout)"

    def fold(t: str) -> str:
        return "".join(c for c in unicodedata.normalize("NFKC", t) if not c.isspace())

    plans = load_plans(load_settings().plans_dir)
    assert sorted(p.source.seed[:3] for p in plans.values()) == ["000", "001", "002", "003", "004"]
    for plan in plans.values():
        text = fold((seeds / plan.source.seed).read_text(encoding="utf-8"))
        for goal in plan.goals:
            assert fold(goal.quote) in text, (plan.id, goal.quote)
