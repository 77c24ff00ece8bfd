"""Eval records and the promotion gate.

Every run writes a committable record, ``<records_dir>/<prompt>/<content hash>/<model>/<run_id>.json``,
holding the suite hash, the dataset content hashes, judge fingerprints, scores and the verdict.
:class:`EvalGate` is a registry ``gate=``: promoting a protected label needs a passing record whose
prompt content hash, model, suite hash and dataset hashes all match the current files, made with a
real provider (records of ``provider: fake`` are demos and never count). The model is the version's
own: a suite's ``model:`` override counts only when it names that model or a dated snapshot of it
(a version that only changes the pinned snapshot needs a record on the new snapshot).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from llmguard._pins import snapshot_of
from llmguard.exceptions import EvalError, PromotionRefusedError
from llmguard.prompts import PromotionRequest, PromptVersion
from llmguard.prompts._labels import DEFAULT_PROTECTED
from llmguard.prompts._registry import FAKE_PROVIDERS

from ._results import EvalRun
from ._suite import Suite, load_suite

__all__ = [
    "DEFAULT_PROTECTED",
    "EvalGate",
    "find_records",
    "latest_record",
    "record_dir",
    "record_json",
    "write_record",
]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def record_dir(records_dir: Path, name: str, content_hash: str, model: str | None = None) -> Path:
    """The folder of a prompt version's records (of one model when given)."""
    folder = records_dir / name / content_hash.removeprefix("sha256:")
    return folder if model is None else folder / _UNSAFE.sub("_", model)


def record_json(run: EvalRun) -> dict[str, Any]:
    """The record of a run, as JSON data."""
    judges = {
        key: {
            "fingerprint": s.fingerprint,
            "scale": list(s.scale),
            "mean": s.interval.mean,
            "ci_low": s.interval.low,
            "ci_high": s.interval.high,
            "normalized_mean": s.normalized_mean,
            "pass_rate": s.pass_rate,
            "checks": [
                {"what": c.what, "actual": c.actual, "threshold": c.threshold, "ok": c.ok} for c in s.checks
            ],
        }
        for key, s in run.judges.items()
    }
    return {
        "schema": 1,
        "run_id": run.run_id,
        "started_at": run.started_at,
        "suite": {
            "name": run.suite.name,
            "file": run.suite.path.name,
            "content_hash": run.suite.content_hash,
        },
        "prompt": run.prompt,
        "model": run.model,
        "provider": run.suite.provider,
        "datasets": run.datasets,
        "repeats": run.suite.repeats,
        "cases": len(run.cases),
        "judges": judges,
        "primary": run.suite.primary,
        "eval_score": run.eval_score,
        "verdict": "passed" if run.passed else "failed",
        "passed": run.passed,
        "failures": run.failures,
        "spend": {"app": run.app_spend.to_json(), "judge": run.judge_spend.to_json()},
        "cache_hits": run.cache_hits,
    }


def write_record(run: EvalRun) -> Path:
    """Write the run's record (never overwrites: run ids are unique) and return its path."""
    folder = record_dir(run.suite.records_dir, run.prompt["name"], run.prompt["content_hash"], run.model)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{run.run_id}.json"
    path.write_text(json.dumps(record_json(run), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def find_records(records_dir: str | Path, name: str, content_hash: str | None = None) -> list[dict[str, Any]]:
    """Every readable record of ``name`` (of one content hash when given), oldest first."""
    base = Path(records_dir) / name
    pattern = f"{content_hash.removeprefix('sha256:')}/*/*.json" if content_hash else "*/*/*.json"
    found = [data for p in base.glob(pattern) if (data := _read(p)) is not None]
    return sorted(found, key=lambda d: (str(d.get("started_at", "")), str(d.get("run_id", ""))))


def latest_record(
    records_dir: str | Path, name: str, content_hash: str | None = None
) -> dict[str, Any] | None:
    """The newest record of a prompt (version), or ``None``."""
    records = find_records(records_dir, name, content_hash)
    return records[-1] if records else None


def _file_hash(path: Path) -> str:
    try:
        return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise EvalError(f"dataset {path}: cannot read it ({exc.strerror or exc})") from None


def _matches(record: Mapping[str, Any], suite: Suite, version: PromptVersion, model: str) -> bool:
    datasets = {
        p.resolve().relative_to(suite.path.parent.resolve()).as_posix(): _file_hash(p) for p in suite.datasets
    }
    return (
        record.get("passed") is True
        and str(record.get("provider", "fake")).lower() not in FAKE_PROVIDERS
        and record.get("model") == model
        and (record.get("prompt") or {}).get("content_hash") == version.content_hash
        and (record.get("suite") or {}).get("content_hash") == suite.content_hash
        and record.get("datasets") == datasets
    )


class EvalGate:
    """A promotion gate (``PromptRegistry(gate=...)``) that requires a matching passing eval record.

    Args:
        suites: Suite files (or loaded suites); the ones whose prompt name matches are consulted.
        records_dir: Where records are read (default: each suite's ``records_dir``).
    """

    def __init__(
        self, suites: Iterable[str | Path | Suite], *, records_dir: str | Path | None = None
    ) -> None:
        self.suites: list[Suite] = [s if isinstance(s, Suite) else load_suite(s) for s in suites]
        self.records_dir = None if records_dir is None else Path(records_dir)

    def __repr__(self) -> str:
        return f"EvalGate({[str(s.path) for s in self.suites]!r})"

    def __call__(self, request: PromotionRequest) -> Mapping[str, Any]:
        """Approve with evidence, or raise :class:`~llmguard.exceptions.PromotionRefusedError`."""
        if request.evidence.get("forced"):
            if not request.reason.strip():
                raise PromotionRefusedError(
                    f"{request.name}: a forced promotion of {request.label!r} needs a reason"
                )
            return {"forced": True, "forced_by": request.who, "forced_reason": request.reason}
        if not request.versions:
            raise PromotionRefusedError(f"{request.name}: nothing to evaluate for label {request.label!r}")
        found = [self.evidence(version) for version in request.versions]
        if len(found) == 1:
            return found[0]
        return {"evals": {v.version: e for v, e in zip(request.versions, found, strict=True)}}

    def evidence(self, version: PromptVersion) -> dict[str, Any]:
        """The evidence of the newest matching passing record of ``version``.

        Raises:
            PromotionRefusedError: No suite covers the prompt, or no matching passing record of a
                real provider exists.
        """
        suites = [s for s in self.suites if s.prompt.name == version.name]
        if not suites:
            raise PromotionRefusedError(f"{version.name}: no eval suite covers this prompt; pass --suite")
        misses = []
        for suite in suites:
            if suite.is_fake:
                misses.append(f"{suite.path} runs provider: {suite.provider}, whose records never count")
                continue
            if suite.model and version.model and not snapshot_of(suite.model, version.model):
                misses.append(
                    f"{suite.path} evaluates model {suite.model} but the version pins {version.model}: a pin "
                    f"change is a deployment event and needs a record on {version.model} (drop or update the "
                    f"suite's model:)"
                )
                continue
            model = suite.model or version.model or ""
            records_dir = self.records_dir or suite.records_dir
            folder = record_dir(records_dir, version.name, version.content_hash, model)
            matching = [r for r in _folder_records(folder) if _matches(r, suite, version, model)]
            if matching:
                return _evidence_of(matching[-1], suite)
            misses.append(f"{suite.path} on model {model}")
        raise PromotionRefusedError(
            f"{version.name}@{version.version} ({version.content_hash[:19]}…) has no passing eval record of a "
            f"real provider matching the current prompt, model, suite and datasets ({'; '.join(misses)}): run "
            f"`llmguard eval run {suites[0].path}` and commit the record, or promote with --force --reason"
        )


def _folder_records(folder: Path) -> Sequence[dict[str, Any]]:
    found = [data for p in folder.glob("*.json") if (data := _read(p)) is not None]
    return sorted(found, key=lambda d: (str(d.get("started_at", "")), str(d.get("run_id", ""))))


def _evidence_of(record: Mapping[str, Any], suite: Suite) -> dict[str, Any]:
    return {
        "eval_score": record.get("eval_score"),
        "run_id": record.get("run_id"),
        "suite": suite.name,
        "suite_hash": suite.content_hash,
        "model": record.get("model"),
        "provider": record.get("provider"),
    }
