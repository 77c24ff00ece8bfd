"""Rollout plan files: strict validation naming the file and the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmguard.exceptions import RolloutPlanError
from llmguard.rollouts import DEFAULT_GUARDS, Step, load_plan, plan_from_mapping
from llmguard.rollouts._plan import parse_duration

YAML = """\
label: production
candidate: "2.2.0"
false_alarm_rate: 0.01
min_samples: 200
check_interval: 5m
steps:
  - {weight: 1, duration: 30m}
  - {weight: 5, duration: 1h}
  - {weight: 25, duration: 2h}
  - {weight: 100}
guards:
  judge_score: {max_regression: 0.05, judges: [helpfulness]}
  thumbs_down_rate: {max_increase: 0.02}
  latency_p95: {max_regression: 0.2}
"""

TOML = """\
label = "production"
candidate = "2.2.0"
steps = [{weight = 10, duration = "1h"}, {weight = 50, duration = "1h"}]
[guards]
error_rate = {max_increase = 0.01}
"""


def test_a_yaml_plan(tmp_path: Path) -> None:
    path = tmp_path / "rollout.yaml"
    path.write_text(YAML, encoding="utf-8")
    plan = load_plan(path)
    assert plan.steps == (Step(1, 1800.0), Step(5, 3600.0), Step(25, 7200.0), Step(100, 0.0))
    assert (plan.candidate, plan.false_alarm_rate, plan.min_samples, plan.check_interval_s) == (
        "2.2.0",
        0.01,
        200,
        300.0,
    )
    assert [g.metric for g in plan.guards] == ["judge_score", "thumbs_down_rate", "latency_p95"]
    assert plan.guards[0].judges == ("helpfulness",)
    assert plan.guarded_steps == 3
    assert plan_from_mapping(plan.to_json(), "again") == plan


def test_a_toml_plan_gets_its_100_percent_step_and_default_guards_when_none(tmp_path: Path) -> None:
    path = tmp_path / "rollout.toml"
    path.write_text(TOML, encoding="utf-8")
    plan = load_plan(path)
    assert [s.weight for s in plan.steps] == [10, 50, 100]
    assert plan_from_mapping({"candidate": "1.0.0"}).guards == DEFAULT_GUARDS


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"stepz": []}, "unknown field"),
        ({"label": "prod uction"}, "field label"),
        ({"candidate": "two"}, "field candidate"),
        ({"false_alarm_rate": 0.9}, "field false_alarm_rate"),
        ({"false_alarm_rate": True}, "field false_alarm_rate"),
        ({"min_samples": 1.5}, "field min_samples"),
        ({"check_interval": "soon"}, "field check_interval"),
        ({"steps": []}, "field steps"),
        ({"steps": "1,5"}, "field steps"),
        ({"steps": [{"weight": 0}]}, r"field steps\[0\].weight"),
        ({"steps": [{"weight": 5, "duration": "1y"}]}, r"field steps\[0\].duration"),
        ({"steps": [{"weight": 5, "pct": 1}]}, r"field steps\[0\]"),
        ({"steps": [{"weight": 5}, {"weight": 5}]}, "increase strictly"),
        ({"guards": {"vibes": {"max_regression": 0.1}}}, "unknown guard metric"),
        ({"guards": {"error_rate": {"max_regression": 0.1}}}, r"guards.error_rate: expected \{max_increase"),
        ({"guards": {"judge_score": {"max_regression": -1}}}, "max_regression"),
        ({"guards": {"judge_score": {"max_regression": 0.1, "judges": "all"}}}, "judges"),
        ({"guards": {}}, "field guards"),
    ],
)
def test_bad_plans_name_the_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(RolloutPlanError, match=field) as info:
        plan_from_mapping(data, "prompts/bot/rollout.yaml")
    assert "prompts/bot/rollout.yaml" in str(info.value)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("rollout.yaml", "steps: [unclosed"),
        ("rollout.yaml", "- a\n- b\n"),
        ("rollout.toml", "steps = ["),
        ("rollout.json", "{}"),
        ("rollout.yaml", "x" * 300_000),
    ],
)
def test_bad_files_name_the_file(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RolloutPlanError, match="rollout"):
        load_plan(path)


def test_an_unreadable_plan(tmp_path: Path) -> None:
    with pytest.raises(RolloutPlanError, match="cannot read"):
        load_plan(tmp_path / "missing.yaml")
    (tmp_path / "bin.yaml").write_bytes(b"\xff\xfe")
    with pytest.raises(RolloutPlanError, match=r"bin\.yaml"):
        load_plan(tmp_path / "bin.yaml")


@given(
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20), st.lists(st.integers())
    )
)
def test_durations_are_seconds_or_a_plan_error(value: object) -> None:
    try:
        seconds = parse_duration(value, "d")
    except RolloutPlanError as exc:
        message = str(exc)
        seconds = 0.0
    else:
        message = "d: invalid duration"
    assert "d: invalid duration" in message
    assert 0 <= seconds <= 366 * 86400
