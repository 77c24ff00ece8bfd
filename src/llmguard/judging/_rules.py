"""Rule judges: deterministic checks scored on (0, 1), and the plain-callable adapter."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._types import JudgeInput, JudgeResult, Scale, fingerprint_of

__all__ = [
    "DEFAULT_REFUSALS",
    "INLINE_JUDGES",
    "ContainsKeywords",
    "FunctionJudge",
    "JsonValid",
    "MinLength",
    "NoRefusal",
    "Regex",
    "as_judge",
]

DEFAULT_REFUSALS: tuple[str, ...] = (
    "i can't help",
    "i cannot help",
    "i can't assist",
    "i cannot assist",
    "i'm sorry, but i can",
    "i am sorry, but i can",
    "i'm unable to",
    "i am unable to",
    "as an ai language model",
    "i won't be able to",
)
"""Phrases that mark a refusal (case-insensitive substrings) when none are configured."""


class _RuleJudge:
    """Shared behaviour of rule judges: binary scores on (0, 1), async = sync (they are CPU-only)."""

    name: str
    scale: Scale = (0.0, 1.0)

    @property
    def fingerprint(self) -> str:
        """The kind plus a hash of the parameters."""
        return fingerprint_of(self.name, **self._params())

    def _params(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if k != "name"}

    def _verdict(self, ok: bool, reason: str) -> JudgeResult:
        return JudgeResult.of(self.name, 1.0 if ok else 0.0, reason=reason, fingerprint=self.fingerprint)

    def evaluate(self, item: JudgeInput) -> JudgeResult:
        """Judge ``item``."""
        raise NotImplementedError

    async def aevaluate(self, item: JudgeInput) -> JudgeResult:
        """Judge ``item`` (rule judges are pure CPU: this runs inline)."""
        return self.evaluate(item)


@dataclass(eq=False)
class ContainsKeywords(_RuleJudge):
    """Passes when every ``required`` keyword appears and no ``forbidden`` one does (policy checks)."""

    required: Sequence[str] = ()
    forbidden: Sequence[str] = ()
    case_sensitive: bool = False
    name: str = "contains_keywords"

    def evaluate(self, item: JudgeInput) -> JudgeResult:
        """Check the keywords."""
        text = item.output if self.case_sensitive else item.output.lower()
        norm = (lambda k: k) if self.case_sensitive else str.lower
        missing = [k for k in self.required if norm(k) not in text]
        present = [k for k in self.forbidden if norm(k) in text]
        reason = "; ".join(filter(None, (_listed("missing", missing), _listed("forbidden", present))))
        return self._verdict(not missing and not present, reason or "all keyword rules hold")


def _listed(what: str, words: list[str]) -> str:
    return f"{what}: {', '.join(words)}" if words else ""


@dataclass(eq=False)
class MinLength(_RuleJudge):
    """Passes when the output has at least ``min_chars`` characters (after stripping) and ``min_words`` words."""

    min_chars: int = 1
    min_words: int = 0
    name: str = "min_length"

    def evaluate(self, item: JudgeInput) -> JudgeResult:
        """Check the length."""
        text = item.output.strip()
        chars, words = len(text), len(text.split())
        ok = chars >= self.min_chars and words >= self.min_words
        return self._verdict(ok, f"{chars} chars, {words} words")


@dataclass(eq=False)
class NoRefusal(_RuleJudge):
    """Passes when the output contains none of the refusal ``phrases`` (case-insensitive)."""

    phrases: Sequence[str] = DEFAULT_REFUSALS
    name: str = "no_refusal"

    def evaluate(self, item: JudgeInput) -> JudgeResult:
        """Look for refusal phrases."""
        text = item.output.lower()
        hit = next((p for p in self.phrases if p.lower() in text), None)
        return self._verdict(hit is None, f"refusal phrase {hit!r}" if hit else "no refusal phrase")


@dataclass(eq=False)
class JsonValid(_RuleJudge):
    """Passes when the output parses as JSON and, if ``schema`` is set, validates against it (``jsonschema``)."""

    schema: dict[str, Any] | None = None
    name: str = "json_valid"

    def evaluate(self, item: JudgeInput) -> JudgeResult:
        """Parse and validate."""
        try:
            data = json.loads(_strip_fence(item.output))
        except ValueError as exc:
            return self._verdict(False, f"invalid JSON: {exc}")
        if self.schema is None:
            return self._verdict(True, "valid JSON")
        jsonschema: Any = importlib.import_module("jsonschema")  # lazily: only schema checks need it

        errors = sorted(jsonschema.Draft202012Validator(self.schema).iter_errors(data), key=str)
        return self._verdict(
            not errors, f"schema: {errors[0].message}" if errors else "valid against the schema"
        )


def _strip_fence(text: str) -> str:
    match = re.fullmatch(r"\s*```(?:json)?\s*(.*?)\s*```\s*", text, flags=re.DOTALL)
    return match.group(1) if match else text


@dataclass(eq=False)
class Regex(_RuleJudge):
    """Passes when ``pattern`` is found in the output (or, with ``must_match=False``, when it is not)."""

    pattern: str = ""
    flags: int = 0
    must_match: bool = True
    name: str = "regex"
    _compiled: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._compiled = re.compile(self.pattern, self.flags)

    def _params(self) -> dict[str, Any]:
        return {"pattern": self.pattern, "flags": self.flags, "must_match": self.must_match}

    def evaluate(self, item: JudgeInput) -> JudgeResult:
        """Search the pattern."""
        found = self._compiled.search(item.output) is not None
        return self._verdict(found == self.must_match, f"pattern {'found' if found else 'not found'}")


@dataclass(eq=False)
class FunctionJudge:
    """A plain callable as a judge: ``fn(JudgeInput)`` returning a result, a float or a bool.

    A float is a score on ``scale``; a bool is 1.0/0.0. Coroutine functions work with ``aevaluate``
    (and, in the background queue, ``evaluate`` runs them with `asyncio.run`).
    """

    fn: Callable[[JudgeInput], Any]
    name: str = ""
    scale: Scale = (0.0, 1.0)
    threshold: float = 0.5

    def __post_init__(self) -> None:
        self.name = self.name or getattr(self.fn, "__name__", type(self.fn).__name__)

    @property
    def fingerprint(self) -> str:
        """The callable's qualified name."""
        fn = self.fn
        return fingerprint_of(
            "function", fn=f"{getattr(fn, '__module__', '')}:{getattr(fn, '__qualname__', fn)}"
        )

    def evaluate(self, item: JudgeInput) -> JudgeResult:
        """Call the function."""
        value = self.fn(item)
        if inspect.isawaitable(value):
            value = asyncio.run(_awaited(value))
        return self._result(value)

    async def aevaluate(self, item: JudgeInput) -> JudgeResult:
        """Call the function from async code (a sync function runs in a worker thread)."""
        if inspect.iscoroutinefunction(self.fn):
            return self._result(await self.fn(item))
        return self._result(await asyncio.to_thread(self.fn, item))

    def _result(self, value: Any) -> JudgeResult:
        if isinstance(value, JudgeResult):
            return value
        if isinstance(value, bool | int | float):
            score = float(value)
            return JudgeResult.of(
                self.name, score, scale=self.scale, threshold=self.threshold, fingerprint=self.fingerprint
            )
        raise TypeError(
            f"judge {self.name!r} returned {type(value).__name__}; expected JudgeResult, float or bool"
        )


async def _awaited(value: Any) -> Any:
    return await value


def as_judge(value: Any, *, name: str | None = None) -> Any:
    """Adapt a plain callable to the `llmguard.judging.Judge` protocol (judges pass through)."""
    if hasattr(value, "evaluate") and hasattr(value, "aevaluate"):
        return value
    if callable(value):
        return FunctionJudge(value, name=name or "")
    raise TypeError(f"not a judge: {value!r}; pass a Judge, a callable, or a registered judge name")


INLINE_JUDGES: frozenset[type] = frozenset({ContainsKeywords, MinLength, NoRefusal})
"""Judges the judging workers run on their own thread, without the timeout helper thread.

Each is a linear scan of the output with llmguard's own code (``Regex`` runs a user's pattern,
which can backtrack, and ``JsonValid`` a user's schema; those keep the timeout). The type must
match exactly: a subclass may judge differently. Skipping the hand-off matters under load: each
hand-off waits twice for the GIL, and behind a busy caller thread each wait can last up to a
second, so a queue of sampled calls, each holding its prompt, grows where an inline judge keeps up.
"""
