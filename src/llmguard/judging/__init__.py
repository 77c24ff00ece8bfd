"""Sampled asynchronous judging: rule checks and LLM-as-judge in the background.

Configure judges on a `llmguard.Guard`; sampled calls are judged on background threads
and never block (or fail) the caller::

    guard = llmguard.Guard(
        judges=["no_refusal", ("min_length", {"min_chars": 20}), LLMJudge(rubric=..., model="gpt-4o-2024-08-06")],
        sampling=Sampling(rate=0.1, prompts={"support-answer": 1.0}),
    )

The judges are also a library: ``judge.evaluate(JudgeInput(output=..., input=...))`` (or
``await judge.aevaluate(...)``) returns a `JudgeResult` with no queue involved.
"""

from ._embedding import EmbeddingSimilarity, cosine
from ._llm import LLMJudge, is_transient
from ._observer import JudgingObserver
from ._queue import ATEXIT_TIMEOUT, JudgingQueue, JudgingStats
from ._registry import register_judge, registered_judges, resolve_judge, resolve_judges
from ._rules import (
    DEFAULT_REFUSALS,
    ContainsKeywords,
    FunctionJudge,
    JsonValid,
    MinLength,
    NoRefusal,
    Regex,
    as_judge,
)
from ._sampler import DEFAULT_SALT, Sampling, sample_point, should_sample
from ._sinks import CallbackSink, InMemorySink, JudgmentSink, SQLiteSink, SQLJudgmentSink
from ._telemetry import EVENT_NAME, JudgingTelemetry
from ._types import Judge, JudgeInput, JudgeResult, Judgment, JudgmentStatus, Scale

__all__ = [
    "ATEXIT_TIMEOUT",
    "DEFAULT_REFUSALS",
    "DEFAULT_SALT",
    "EVENT_NAME",
    "CallbackSink",
    "ContainsKeywords",
    "EmbeddingSimilarity",
    "FunctionJudge",
    "InMemorySink",
    "JsonValid",
    "Judge",
    "JudgeInput",
    "JudgeResult",
    "JudgingObserver",
    "JudgingQueue",
    "JudgingStats",
    "JudgingTelemetry",
    "Judgment",
    "JudgmentSink",
    "JudgmentStatus",
    "LLMJudge",
    "MinLength",
    "NoRefusal",
    "Regex",
    "SQLJudgmentSink",
    "SQLiteSink",
    "Sampling",
    "Scale",
    "as_judge",
    "cosine",
    "is_transient",
    "register_judge",
    "registered_judges",
    "resolve_judge",
    "resolve_judges",
    "sample_point",
    "should_sample",
]
