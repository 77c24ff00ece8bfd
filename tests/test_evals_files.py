from __future__ import annotations

from pathlib import Path

import pytest

from llmguard.evals import load_dataset, load_datasets, load_suite, parse_prompt_spec
from llmguard.exceptions import EvalError

GOOD = '{"id": "a", "input": "hi", "expected_output": "hello", "tags": ["x"]}\n'


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_jsonl_and_yaml_datasets(tmp_path: Path) -> None:
    jsonl = load_dataset(_write(tmp_path / "d.jsonl", GOOD + "\n" + '{"id": 2, "variables": {"q": "x"}}\n'))
    assert [c.id for c in jsonl.cases] == ["a", "2"]
    assert jsonl.cases[1].source.endswith("d.jsonl:3")
    assert jsonl.content_hash.startswith("sha256:")
    yml = load_dataset(
        _write(
            tmp_path / "d.yaml", "cases:\n  - id: a\n    input: hi\n  - id: b\n    input: yo\n    tags: t\n"
        )
    )
    assert [c.source.rsplit(":", 1)[1] for c in yml.cases] == ["2", "4"]
    assert yml.cases[1].tags == ("t",)


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        (GOOD + '{"id": "b", "input": 3}\n', "d.jsonl:2: field 'input'", "expected a string"),
        (GOOD + '{"input": "x"}\n', "d.jsonl:2: field 'id'", "required"),
        (GOOD + '{"id": "b"}\n', "d.jsonl:2: field 'input'", "needs 'input' or 'variables'"),
        (
            GOOD + '{"id": "b", "input": "x", "expected": "y"}\n',
            "d.jsonl:2: field 'expected'",
            "unknown field",
        ),
        (GOOD + '{"id": "b", "input": "x", "tags": [1]}\n', "d.jsonl:2: field 'tags'", "list of strings"),
        (
            GOOD + '{"id": "b", "input": "x", "judge_params": {"regex": 1}}\n',
            "field 'judge_params.regex'",
            "mapping",
        ),
        (GOOD + "{not json\n", "d.jsonl:2:", "invalid JSON"),
        (GOOD + "\n" + GOOD, "d.jsonl:3: field 'id'", "duplicate id 'a' (first at"),
        ("", "d.jsonl", "no cases"),
    ],
)
def test_bad_jsonl_names_file_line_and_field(tmp_path: Path, text: str, where: str, message: str) -> None:
    path = _write(tmp_path / "d.jsonl", text)
    with pytest.raises(EvalError) as info:
        load_dataset(path)
    assert where in str(info.value)
    assert message in str(info.value)


def test_bad_yaml_case_names_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.yaml", "- id: a\n  input: hi\n- id: b\n  input: [1]\n")
    with pytest.raises(EvalError, match=r"d\.yaml:3: field 'input'"):
        load_dataset(path)


def test_duplicate_ids_across_files(tmp_path: Path) -> None:
    a, b = _write(tmp_path / "a.jsonl", GOOD), _write(tmp_path / "b.jsonl", GOOD)
    with pytest.raises(
        EvalError, match=r"b\.jsonl:1: field 'id': duplicate id 'a' \(first at .*a\.jsonl:1\)"
    ):
        load_datasets([a, b])


def test_unknown_extension_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(EvalError, match=r"use a \.jsonl"):
        load_dataset(_write(tmp_path / "d.csv", "x"))
    with pytest.raises(EvalError, match="cannot read"):
        load_dataset(tmp_path / "nope.jsonl")


SUITE = """prompt: support-bot@2.1.0
datasets: [d.jsonl]
judges:
  llm_judge: {model: gpt-4o-2024-08-06, rubric: r}
  no_refusal: {}
gate:
  llm_judge: {mean: 3.5}
repeats: 3
"""


def test_suite_defaults_and_paths(tmp_path: Path) -> None:
    suite = load_suite(_write(tmp_path / "support.suite.yaml", SUITE))
    assert suite.name == "support"
    assert suite.primary == "llm_judge"
    assert suite.datasets == (tmp_path / "d.jsonl",)
    assert suite.records_dir == tmp_path / "records"
    assert suite.prompt.version == "2.1.0"
    assert suite.content_hash == load_suite(tmp_path / "support.suite.yaml", repeats=1).content_hash


@pytest.mark.parametrize(
    ("change", "where", "field"),
    [
        (("repeats: 3", "repeats: 0"), ":8:", "'repeats'"),
        (("{mean: 3.5}", "{mean: 3.5, floor: 2}"), ":7:", "'gate.llm_judge.floor'"),
        (("repeats: 3", "repeats: 3\nprovider: azure"), ":9:", "'provider'"),
        (("repeats: 3", "repeats: 3\nprimary: regex"), "", "(suite)"),
    ],
)
def test_bad_suite_names_file_line_and_field(
    tmp_path: Path, change: tuple[str, str], where: str, field: str
) -> None:
    path = _write(tmp_path / "s.suite.yaml", SUITE.replace(*change))
    with pytest.raises(EvalError) as info:
        load_suite(path)
    text = str(info.value)
    assert f"s.suite.yaml{where}" in text
    assert field in text


def test_suite_yaml_errors(tmp_path: Path) -> None:
    with pytest.raises(EvalError, match="invalid YAML"):
        load_suite(_write(tmp_path / "a.yaml", "prompt: [\n"))
    with pytest.raises(EvalError, match="expected a mapping"):
        load_suite(_write(tmp_path / "b.yaml", "- 1\n"))


@pytest.mark.parametrize(
    ("text", "version", "label"),
    [
        ("p@2.1.0", "2.1.0", None),
        ("p@^2.1", "^2.1", None),
        ("p@2.x", "2.x", None),
        ("p@>=2,<3", ">=2,<3", None),
        ("p@production", None, "production"),
        ("p", "latest", None),
    ],
)
def test_prompt_spec(text: str, version: str | None, label: str | None) -> None:
    spec = parse_prompt_spec(text)
    assert (spec.name, spec.version, spec.label) == ("p", version, label)


def test_prompt_spec_errors() -> None:
    with pytest.raises(EvalError):
        parse_prompt_spec("p@")
