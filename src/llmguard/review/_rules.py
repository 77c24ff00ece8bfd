r"""Routing rules: which calls enter the human review queue, and why.

A pure decision over a call's id, prompt and tags (the same salted hash as the judging sample,
`llmguard.judging.should_sample`, under its own salt), plus two checks applied later, off the hot
path, to what the stores already hold: negative end-user feedback and judgments that failed or
scored below a threshold.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from llmguard.exceptions import ConfigurationError
from llmguard.judging._sampler import should_sample

__all__ = [
    "DEFAULT_SALT",
    "REASON_EXPLICIT",
    "REASON_JUDGE",
    "REASON_NEGATIVE",
    "REASON_RANDOM",
    "Routing",
]

DEFAULT_SALT = "llmguard:review:v1"
"""The salt of the review sample: independent of the judging sample."""

REASON_EXPLICIT = "explicit"
REASON_RANDOM = "random"
REASON_NEGATIVE = "negative_feedback"
REASON_JUDGE = "judge"


def _rate(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
        raise ConfigurationError(f"review routing {where}: expected a rate between 0 and 1, got {value!r}")
    return float(value)


@dataclass(frozen=True, kw_only=True)
class Routing:
    """Which calls are routed to human review.

    Attributes:
        rate: Share of all calls sampled at random (default 0: none).
        prompts: Random rate per registry prompt name (overrides tags and ``rate``).
        tags: Random rate per call tag; the highest matching rate wins.
        call_ids: Calls routed explicitly, whatever the rates.
        negative_feedback: Route calls that got negative end-user feedback.
        judge_threshold: Route calls a judge scored (normalized, 0..1) below this; ``None``: off.
        failed_checks: Route calls a judge or rule check marked as failed (``passed`` false).
        salt: Hash salt of the random sample (changing it redraws it).
    """

    rate: float = 0.0
    prompts: Mapping[str, float] = field(default_factory=dict)
    tags: Mapping[str, float] = field(default_factory=dict)
    call_ids: Collection[str] = frozenset()
    negative_feedback: bool = True
    judge_threshold: float | None = 0.5
    failed_checks: bool = True
    salt: str = DEFAULT_SALT

    def __post_init__(self) -> None:
        _rate(self.rate, "rate")
        for name, value in {**self.prompts, **self.tags}.items():
            _rate(value, repr(name))
        threshold = self.judge_threshold
        if threshold is not None and (
            isinstance(threshold, bool)
            or not isinstance(threshold, int | float)
            or not math.isfinite(threshold)
        ):
            raise ConfigurationError(f"review routing judge_threshold: expected a number, got {threshold!r}")
        ids = self.call_ids
        object.__setattr__(self, "call_ids", frozenset([ids] if isinstance(ids, str) else ids))

    def rate_for(self, prompt: str | None, tags: Iterable[str] = ()) -> float:
        """The random rate that applies to a call of ``prompt`` carrying ``tags``."""
        if prompt is not None and prompt in self.prompts:
            return self.prompts[prompt]
        matched = [self.tags[tag] for tag in tags if tag in self.tags]
        return max(matched) if matched else self.rate

    def on_call(self, call_id: str, prompt: str | None = None, tags: Iterable[str] = ()) -> str | None:
        """The reason a call is routed when it is made (explicit or random), else ``None``."""
        if call_id in self.call_ids:
            return REASON_EXPLICIT
        if should_sample(call_id, self.rate_for(prompt, tags), self.salt):
            return REASON_RANDOM
        return None

    def on_judgment(self, normalized: float | None, passed: bool | None) -> str | None:
        """``judge`` when a judgment failed or scored below the threshold, else ``None``."""
        if self.failed_checks and passed is False:
            return REASON_JUDGE
        if self.judge_threshold is not None and normalized is not None and normalized < self.judge_threshold:
            return REASON_JUDGE
        return None

    @classmethod
    def coerce(cls, value: Any) -> Routing:
        """Build from a `Routing`, a mapping (config table), a rate, or ``None`` (defaults)."""
        if value is None:
            return cls()
        if isinstance(value, Routing):
            return value
        if isinstance(value, Mapping):
            unknown = sorted(set(value) - set(cls.__dataclass_fields__))
            if unknown:
                valid = ", ".join(sorted(cls.__dataclass_fields__))
                raise ConfigurationError(f"review routing: unknown key {unknown[0]!r}; valid keys: {valid}")
            data = dict(value)
            if "call_ids" in data:
                data["call_ids"] = frozenset(data["call_ids"])
            return cls(**data)
        return cls(rate=_rate(value, "rate"))
