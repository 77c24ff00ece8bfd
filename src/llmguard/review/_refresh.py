"""Golden-set candidates from real traffic, written as a reviewable file beside the dataset.

Candidates come from reviewed calls (the corrected answer becomes ``expected_output``), from
negatively rated calls and from low-scored calls, all with retained content. They are deduplicated
by normalised input (case, spacing and punctuation ignored; origins and call ids merged), grouped
when nearly identical (`difflib` ratio >= ``near``), passed through the guard's ``redact`` hook and
tagged with their origin. The golden file is never edited here: `apply_candidates` appends a
reviewed candidates file on request.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmguard.evals._dataset import load_dataset, parse_case
from llmguard.exceptions import EvalError

from ._rules import Routing
from ._store import ReviewStore

__all__ = ["Candidate", "RefreshResult", "apply_candidates", "input_text", "normalise", "refresh_candidates"]

ORIGIN_REVIEW = "review"
ORIGIN_NEGATIVE = "negative_feedback"
ORIGIN_LOW = "low_score"
MAX_CANDIDATES = 5000
"""Most candidates considered in one refresh (near-duplicate grouping is quadratic)."""


def normalise(text: str) -> str:
    """Case-folded, punctuation dropped, whitespace collapsed: the key exact duplicates share."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.casefold()).split())


def input_text(inputs: Any) -> str | None:
    """The user's text of a retained request: ``input`` if a string, else the last user message."""
    if isinstance(inputs, Mapping) and isinstance(inputs.get("input"), str):
        return str(inputs["input"])
    messages = inputs.get("messages") if isinstance(inputs, Mapping) else None
    for message in reversed(messages if isinstance(messages, list) else []):
        if isinstance(message, Mapping) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return (
                    " ".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping)).strip()
                    or None
                )
    return None


@dataclass(slots=True)
class Candidate:
    """One proposed golden case, and where it came from."""

    key: str
    input: str
    expected_output: str = ""
    origins: list[str] = field(default_factory=list)
    call_ids: list[str] = field(default_factory=list)
    prompt: str | None = None
    group: int | None = None

    def case(self) -> dict[str, Any]:
        """The candidate in the dataset's case shape (``expected_output`` empty until a human fills it)."""
        tags = ["from_traffic", *(f"origin:{o}" for o in self.origins)]
        metadata: dict[str, Any] = {"origins": self.origins, "call_ids": self.call_ids}
        if self.group is not None:
            metadata["near_duplicate_group"] = self.group
        if self.prompt:
            metadata["prompt"] = self.prompt
        return {
            "id": f"traffic-{self.call_ids[0]}",
            "input": self.input,
            "expected_output": self.expected_output,
            "tags": tags,
            "metadata": metadata,
        }


@dataclass(frozen=True, slots=True)
class RefreshResult:
    """What a refresh proposed."""

    output: Path
    candidates: int
    merged: int
    near_duplicate_groups: int
    already_in_dataset: int
    without_content: int


def _sources(store: ReviewStore, threshold: float) -> list[tuple[str, str, str]]:
    """(call id, origin, corrected answer or "") in a stable order."""
    found: list[tuple[str, str, str]] = []
    for label in store.labels():
        if label.corrected:
            found.append((label.call_id, ORIGIN_REVIEW, label.corrected))
    found.extend((row["call_id"], ORIGIN_NEGATIVE, "") for row in store.negative_feedback())
    routing = Routing(judge_threshold=threshold)
    for j in store.judgments():
        passed = None if j["passed"] is None else bool(j["passed"])
        if routing.on_judgment(j["normalized"], passed) is not None:
            found.append((j["call_id"], ORIGIN_LOW, ""))
    return found


def _group(candidates: list[Candidate], near: float) -> int:
    parent = list(range(len(candidates)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, a in enumerate(candidates):
        matcher = difflib.SequenceMatcher(None, "", a.key, autojunk=False)  # b is cached
        for j in range(i + 1, len(candidates)):
            matcher.set_seq1(candidates[j].key)
            if (
                matcher.real_quick_ratio() >= near
                and matcher.quick_ratio() >= near
                and matcher.ratio() >= near
            ):
                parent[root(j)] = root(i)
    members: dict[int, list[int]] = {}
    for i in range(len(candidates)):
        members.setdefault(root(i), []).append(i)
    groups = [m for m in members.values() if len(m) > 1]
    for number, group in enumerate(groups, start=1):
        for i in group:
            candidates[i].group = number
    return len(groups)


def refresh_candidates(
    store: ReviewStore,
    dataset: str | Path,
    *,
    output: str | Path | None = None,
    redact: Callable[[str], str] | None = None,
    threshold: float = 0.5,
    near: float = 0.85,
) -> RefreshResult:
    """Write golden-set candidates from traffic to ``output`` (default ``<dataset>.candidates.jsonl``).

    Raises:
        EvalError: The dataset cannot be read.
    """
    golden = load_dataset(dataset)
    known = {normalise(c.input) for c in golden.cases if c.input}
    content = store.retained()
    prompts = {row["call_id"]: row for row in store.negative_feedback()}
    by_key: dict[str, Candidate] = {}
    missing = merged = existing = 0
    for call_id, origin, corrected in _sources(store, threshold):
        text = input_text(content[call_id].get("input")) if call_id in content else None
        if text is None:
            missing += 1
            continue
        if redact is not None:
            text, corrected = str(redact(text)), str(redact(corrected)) if corrected else corrected
        key = normalise(text)
        if key in known:
            existing += 1
            continue
        candidate = by_key.get(key)
        if candidate is None:
            if len(by_key) >= MAX_CANDIDATES:
                continue
            row = prompts.get(call_id)
            prompt = (
                f"{row['prompt_name']}@{row['prompt_version']}" if row and row.get("prompt_name") else None
            )
            candidate = by_key[key] = Candidate(key, text, prompt=prompt)
        else:
            merged += call_id not in candidate.call_ids
        if origin not in candidate.origins:
            candidate.origins.append(origin)
        if call_id not in candidate.call_ids:
            candidate.call_ids.append(call_id)
        if corrected and not candidate.expected_output:
            candidate.expected_output = corrected
    candidates = list(by_key.values())
    groups = _group(candidates, near)
    target = (
        Path(output) if output is not None else golden.path.with_name(golden.path.stem + ".candidates.jsonl")
    )
    if target.resolve() == golden.path.resolve():
        raise EvalError(f"refresh never writes the golden file {golden.path}: choose another --output")
    with target.open("w", encoding="utf-8") as handle:
        for candidate in candidates:
            handle.write(json.dumps(candidate.case(), ensure_ascii=False) + "\n")
    return RefreshResult(target, len(candidates), merged, groups, existing, missing)


def apply_candidates(candidates: str | Path, dataset: str | Path, *, require_expected: bool = True) -> int:
    """Append the reviewed cases of ``candidates`` to the JSONL ``dataset``; how many were added.

    Cases with an empty ``expected_output`` are skipped when ``require_expected`` (fill them in first).

    Raises:
        EvalError: Either file is invalid, the dataset is not JSONL, or an id already exists.
    """
    golden = load_dataset(dataset)
    if golden.path.suffix != ".jsonl":
        raise EvalError(f"dataset {golden.path}: apply appends to .jsonl datasets only")
    proposed = load_dataset(candidates)
    ids = {c.id for c in golden.cases}
    lines = []
    for case in proposed.cases:
        if require_expected and not case.expected_output:
            continue
        if case.id in ids:
            raise EvalError(f"{case.source}: field 'id': {case.id!r} is already in {golden.path}")
        raw = {"id": case.id, "input": case.input, "expected_output": case.expected_output,
               "tags": list(case.tags), "metadata": dict(case.metadata)}  # fmt: skip
        parse_case(raw, case.source)
        lines.append(json.dumps(raw, ensure_ascii=False))
    if lines:
        text = golden.path.read_text(encoding="utf-8")
        prefix = "" if not text or text.endswith("\n") else "\n"
        with golden.path.open("a", encoding="utf-8") as handle:
            handle.write(prefix + "\n".join(lines) + "\n")
    return len(lines)
