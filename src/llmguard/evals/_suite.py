"""Suite files: the prompt under test, datasets, judges, gate, repeats and concurrency (YAML).

```yaml
prompt: support-bot@2.1.0          # name@version, name@label or name@<semver range>
prompts_dir: ../prompts            # relative to this file
datasets: [support-bot.golden.jsonl]
model: gpt-4o-2024-08-06           # optional override (evaluate a model bump before changing the pin)
judges:
  llm_judge: {model: gpt-4o-2024-08-06, rubric: "Correct, polite, escalates when unsure."}
  no_refusal: {}
gate:
  llm_judge: {mean: 3.5, case_floor: 2, tags: {billing: {mean: 3.0}}}
  no_refusal: {pass_rate: 1.0}
primary: llm_judge
repeats: 3
concurrency: 8
```
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from llmguard.exceptions import EvalError

__all__ = [
    "CompareGate",
    "JudgeGate",
    "PromptSpec",
    "Suite",
    "TagGate",
    "eval_case_ids",
    "load_suite",
    "parse_prompt_spec",
]

Provider = Literal["openai", "anthropic", "fake", "fake-anthropic"]
_VERSIONISH = re.compile(r"^([\d^~<>=*]|latest$)")


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TagGate(_Strict):
    """Thresholds for the cases with one tag (raw judge scale for ``mean``, 0..1 for ``pass_rate``)."""

    mean: float | None = None
    pass_rate: float | None = Field(default=None, ge=0.0, le=1.0)


class JudgeGate(TagGate):
    """The gate of one judge.

    Attributes:
        mean: Minimum mean score on the judge's own scale (e.g. 3.5 on 1..5).
        pass_rate: Minimum fraction of passed judgments (0..1).
        case_floor: Every case's mean over repeats must reach it.
        bound: ``mean`` compares the point estimate, ``lower`` the confidence interval's lower bound.
        tags: Per-tag thresholds.
    """

    case_floor: float | None = None
    bound: Literal["mean", "lower"] = "mean"
    tags: dict[str, TagGate] = Field(default_factory=dict)


class CompareGate(_Strict):
    """What ``llmguard eval compare`` requires of a candidate against its baseline.

    Attributes:
        no_regression: Fail on a significant regression of the primary judge (paired t-interval below 0).
        max_case_drop: A case regresses when its normalized score drops by more than this.
    """

    no_regression: bool = True
    max_case_drop: float = Field(default=0.25, ge=0.0, le=1.0)


class PromptSpec(_Strict):
    """A parsed ``name@selector``: exactly one of ``version`` (exact or range) and ``label``."""

    name: str
    version: str | None = None
    label: str | None = None

    def __str__(self) -> str:
        return f"{self.name}@{self.version or self.label}"


def parse_prompt_spec(text: str) -> PromptSpec:
    """Parse ``name@2.1.0``, ``name@^2.1``, ``name@production`` or a bare name (``latest``).

    Raises:
        EvalError: An empty name or selector.
    """
    name, _, selector = text.partition("@")
    if not name or (("@" in text) and not selector):
        raise EvalError(f"prompt {text!r}: expected name@version, name@label or name@<range>")
    if not selector or _VERSIONISH.match(selector) or selector.endswith(".x"):
        return PromptSpec(name=name, version=selector or "latest")
    return PromptSpec(name=name, label=selector)


class Suite(_Strict):
    """A parsed suite file (paths resolved against the file's folder).

    Attributes:
        name: The suite's name (default: the file name before ``.suite``).
        prompt: The prompt under test.
        prompts_dir: The prompt folder (or ``sqlite:///`` URL).
        datasets: Dataset files.
        judges: Judge spec -> parameters (registered names or ``module:attr``).
        gate: Judge spec -> its gate.
        primary: The judge whose normalized mean is the recorded ``eval_score``.
        repeats: Runs of every case (to absorb non-determinism).
        concurrency: Cases x repeats in flight at once.
        confidence: The confidence level of intervals.
        provider: ``openai``, ``anthropic``; ``fake``/``fake-anthropic`` serve an offline demo provider.
        model: Model override (default: the prompt's model).
        max_tokens: Anthropic ``max_tokens`` when the prompt has none.
        pin_policy: Pin policy of the eval's guard.
        cache_dir: Replay cache folder.
        records_dir: Eval records folder.
        compare: The compare gate.
        fake_quality: ``fake`` providers only: the share of reference words the fake answers keep.
        path: The suite file.
        content_hash: ``sha256:`` of the canonical JSON of the file's content.
    """

    name: str
    prompt: PromptSpec
    prompts_dir: str = "prompts"
    datasets: tuple[Path, ...]
    judges: dict[str, dict[str, Any]]
    gate: dict[str, JudgeGate] = Field(default_factory=dict)
    primary: str
    repeats: int = Field(default=1, ge=1, le=100)
    concurrency: int = Field(default=8, ge=1, le=1024)
    confidence: float = Field(default=0.95, gt=0.0, lt=1.0)
    provider: Provider = "openai"
    model: str | None = None
    max_tokens: int = Field(default=1024, ge=1)
    pin_policy: Literal["enforce", "warn", "off"] = "enforce"
    cache_dir: Path
    records_dir: Path
    compare: CompareGate = Field(default_factory=CompareGate)
    fake_quality: float = Field(default=1.0, ge=0.0, le=1.0)
    path: Path
    content_hash: str

    @model_validator(mode="after")
    def _consistent(self) -> Suite:
        if not self.judges:
            raise ValueError("judges: name at least one judge")
        for key in [*self.gate, self.primary]:
            if key not in self.judges:
                raise ValueError(f"{key!r} is gated or primary but not in judges ({', '.join(self.judges)})")
        return self

    @property
    def is_fake(self) -> bool:
        """Whether the suite runs against the offline demo provider."""
        return self.provider.startswith("fake")


def _raw(path: Path) -> tuple[dict[str, Any], yaml.Node | None]:
    try:
        text = path.read_text(encoding="utf-8")
        data, node = yaml.safe_load(text), yaml.compose(text)
    except OSError as exc:
        raise EvalError(f"suite {path}: cannot read it ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise EvalError(f"suite {path}: invalid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise EvalError(f"suite {path}: expected a mapping of settings")
    return data, node


def _line(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
        if node is not None:
            line = node.start_mark.line + 1
    return line


def _resolve(base: Path, data: dict[str, Any], path: Path) -> dict[str, Any]:
    out = dict(data)
    datasets = out.get("datasets", out.pop("dataset", None))
    out["datasets"] = [base / d for d in ([datasets] if isinstance(datasets, str) else datasets or [])]
    if isinstance(out.get("prompt"), str):
        out["prompt"] = parse_prompt_spec(out["prompt"])
    out["judges"] = {k: dict(v or {}) for k, v in (out.get("judges") or {}).items()}
    out.setdefault("primary", next(iter(out["judges"]), ""))
    out.setdefault("name", path.name.split(".suite")[0].removesuffix(path.suffix))
    prompts_dir = str(out.get("prompts_dir", "prompts"))
    out["prompts_dir"] = prompts_dir if prompts_dir.startswith("sqlite:") else str(base / prompts_dir)
    out["cache_dir"] = base / str(out.get("cache_dir", "cache"))
    out["records_dir"] = base / str(out.get("records_dir", "records"))
    return out


def load_suite(path: str | Path, **overrides: Any) -> Suite:
    """Read and validate a suite file.

    Args:
        path: The YAML file.
        **overrides: Settings replacing the file's (``model=``, ``repeats=``, ``prompt=``...).

    Raises:
        EvalError: Unreadable file, bad YAML, or an invalid setting (file, line and field named).
    """
    file = Path(path)
    data, node = _raw(file)
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    digest = "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
    merged = {**data, **{k: v for k, v in overrides.items() if v is not None}}
    try:
        resolved = _resolve(file.parent, merged, file)
        return Suite.model_validate({**resolved, "path": file, "content_hash": digest})
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = tuple(error["loc"])
        line = _line(node, loc)
        where = f"{file}:{line}" if line else str(file)
        field = ".".join(map(str, loc)) or "(suite)"
        raise EvalError(f"{where}: field {field!r}: {error['msg']}") from None
    except (TypeError, AttributeError) as exc:
        raise EvalError(f"{file}: malformed suite: {exc}") from None


def judge_params(suite: Suite, key: str, case_params: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The parameters of judge ``key`` for one case: the suite's, overridden by the case's."""
    return {**suite.judges[key], **case_params.get(key, {})}


def eval_case_ids(suite: str | Path) -> list[str]:
    """The case ids of a suite's datasets, e.g. for ``pytest.mark.parametrize``.

    Args:
        suite: Path of a suite file.

    Returns:
        The ids of every case of every dataset the suite names, in order.
    """
    from ._dataset import load_datasets

    return [case.id for dataset in load_datasets(load_suite(suite).datasets) for case in dataset.cases]
