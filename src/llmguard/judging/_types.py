"""The judging data model: what a judge reads, what it returns, and what gets stored.

A `Judge` reads a `JudgeInput` (the call's input and output, plus an optional
reference answer) and returns a `JudgeResult`. The background queue wraps each result
(or failure) in a `Judgment` tied to the judged call, which sinks store and telemetry emits.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

__all__ = [
    "Judge",
    "JudgeInput",
    "JudgeResult",
    "Judgment",
    "JudgmentStatus",
    "Scale",
    "fingerprint_of",
    "request_text",
]

Scale = tuple[float, float]
"""A judge's score range ``(lo, hi)``: rule judges use ``(0, 1)``, the LLM judge ``(1, 5)``."""

JudgmentStatus = Literal["ok", "error", "timeout"]


def request_text(request: Mapping[str, Any] | str | None) -> str:
    """The human-readable input of a request body: its messages' (or prompt's) text, joined.

    Args:
        request: A request body as sent to the provider, or plain text.

    Returns:
        The text content found under ``system``, ``instructions``, ``messages``, ``input`` or ``prompt``.
    """
    if request is None:
        return ""
    if isinstance(request, str):
        return request
    parts = [_text(request.get(key)) for key in ("system", "instructions", "messages", "input", "prompt")]
    return "\n".join(part for part in parts if part)


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(filter(None, (_text(item) for item in value)))
    if isinstance(value, Mapping):
        return "\n".join(filter(None, (_text(value.get(key)) for key in ("content", "text"))))
    return ""


def fingerprint_of(kind: str, **params: Any) -> str:
    """A stable fingerprint of a judge: its kind and a short hash of its parameters.

    Args:
        kind: The judge's kind (registered name).
        **params: The parameters that change its scores (JSON-serializable, or their ``repr``).

    Returns:
        ``"<kind>:<12 hex digits>"``.
    """
    blob = json.dumps(params, sort_keys=True, default=repr, separators=(",", ":"))
    return f"{kind}:{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


@dataclass(frozen=True, kw_only=True, slots=True)
class JudgeInput:
    """What a judge reads.

    Attributes:
        output: The generated text being judged.
        input: The request body as sent (or plain input text).
        reference: An optional reference (expected) answer.
        call_id: The judged call's id, when judging live traffic.
        metadata: Free-form context (prompt name and version, tags...).
    """

    output: str
    input: Mapping[str, Any] | str | None = None
    reference: str | None = None
    call_id: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def input_text(self) -> str:
        """The input's text content (messages joined)."""
        return request_text(self.input)


@dataclass(frozen=True, kw_only=True, slots=True)
class JudgeResult:
    """One judge's verdict on one output.

    Attributes:
        name: The judge's name (``gen_ai.evaluation.name``).
        score: The score on ``scale``.
        scale: The judge's declared ``(lo, hi)`` range.
        label: A short label (``pass``/``fail`` by default).
        passed: Whether the output passes the judge's threshold.
        reason: Why (counts as content: reaches telemetry only with content capture).
        fingerprint: Identity of the judge's configuration (model, prompt hash, parameters).
    """

    name: str
    score: float
    scale: Scale = (0.0, 1.0)
    label: str | None = None
    passed: bool | None = None
    reason: str | None = None
    fingerprint: str | None = None

    @property
    def normalized(self) -> float:
        """The score mapped to [0, 1]: ``(score - lo) / (hi - lo)``."""
        lo, hi = self.scale
        return (self.score - lo) / (hi - lo) if hi != lo else 0.0

    @classmethod
    def of(
        cls,
        name: str,
        score: float,
        *,
        scale: Scale = (0.0, 1.0),
        threshold: float = 0.5,
        reason: str | None = None,
        fingerprint: str | None = None,
    ) -> JudgeResult:
        """Build a result whose ``passed`` and ``label`` follow from a normalized ``threshold``."""
        lo, hi = scale
        normalized = (score - lo) / (hi - lo) if hi != lo else 0.0
        passed = normalized >= threshold
        return cls(
            name=name,
            score=float(score),
            scale=scale,
            label="pass" if passed else "fail",
            passed=passed,
            reason=reason,
            fingerprint=fingerprint,
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class Judgment:
    """A stored judgment: one judge run over one sampled call (a result, or why there is none).

    Attributes:
        call_id: The judged call's id.
        judge: The judge's name.
        status: ``ok``, ``error`` (the judge raised) or ``timeout`` (it was abandoned).
        result: The judge's result when ``status == "ok"``.
        error_type: The exception type of a failed judge.
        trace_id: The judged call's trace id (hex), when telemetry set one.
        span_id: The judged call's span id (hex).
        response_id: The provider's response id.
        prompt_name: The registry prompt of the judged call.
        prompt_version: Its version.
        latency_s: How long the judge ran.
        created_ns: When the judgment finished, ns since the epoch.
    """

    call_id: str
    judge: str
    status: JudgmentStatus
    result: JudgeResult | None = None
    error_type: str | None = None
    trace_id: str | None = None
    span_id: str | None = None
    response_id: str | None = None
    prompt_name: str | None = None
    prompt_version: str | None = None
    latency_s: float = 0.0
    created_ns: int = 0


@runtime_checkable
class Judge(Protocol):
    """Scores one output. Implement ``evaluate`` and ``aevaluate``, or pass a plain callable.

    A plain callable ``fn(JudgeInput) -> JudgeResult | float | bool`` is adapted by
    `llmguard.judging.as_judge`.
    """

    name: str
    """Stable name: the ``gen_ai.evaluation.name`` of its results."""
    scale: Scale
    """The ``(lo, hi)`` range of its scores."""

    @property
    def fingerprint(self) -> str:
        """Identity of the configuration (model, prompt hash, parameters)."""
        ...

    def evaluate(self, item: JudgeInput) -> JudgeResult:
        """Judge ``item`` synchronously (may raise: the queue records an errored judgment)."""
        ...

    async def aevaluate(self, item: JudgeInput) -> JudgeResult:
        """Judge ``item`` from async code."""
        ...
