r"""The sampling decision: a pure function of a call's id and a rate.

The hash: ``u = int.from_bytes(sha256(salt + "\\0" + key)[:8], "big") / 2**64``, a uniform number
in [0, 1) fixed by the key; a call is sampled when ``u < rate``. So:

- **deterministic**: one trace id gets the same decision in every process and every language
  that implements the formula (no ``hash()`` randomisation, no RNG);
- **nested**: raising the rate only adds calls (``u < r1`` implies ``u < r2`` for ``r2 >= r1``);
- **salted**: a different ``salt`` draws an independent sample (two features sampling the same
  traffic need not pick the same calls).

The key is the trace id when telemetry set one (so every call of a sampled trace is judged),
else the call id.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from llmguard.exceptions import ConfigurationError

__all__ = ["DEFAULT_SALT", "Sampling", "sample_point", "should_sample"]

DEFAULT_SALT = "llmguard:judging:v1"
"""The salt of the judging sample (changing it redraws the whole sample)."""

_TWO_64 = float(2**64)


def sample_point(key: str, salt: str = DEFAULT_SALT) -> float:
    """The fixed point in [0, 1) that ``key`` hashes to."""
    digest = hashlib.sha256(f"{salt}\0{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _TWO_64


def should_sample(key: str, rate: float, salt: str = DEFAULT_SALT) -> bool:
    """Whether the call identified by ``key`` is in the sample at ``rate`` (0 never, 1 always)."""
    if rate >= 1.0:
        return True
    if rate <= 0.0:
        return False
    return sample_point(key, salt) < rate


def _rate(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
        raise ConfigurationError(f"sampling {where}: expected a rate between 0 and 1, got {value!r}")
    if math.isnan(float(value)):
        raise ConfigurationError(f"sampling {where}: rate is NaN")
    return float(value)


@dataclass(frozen=True, kw_only=True)
class Sampling:
    """Which calls are judged, and the capacity of the background queue.

    Attributes:
        rate: Default sample rate (0..1).
        prompts: Rate per registry prompt name (overrides tags and the default).
        tags: Rate per tag of the call context (`llmguard.context`, a prompt file's ``tags:``); the
            highest matching rate wins.
        errors: Always judge calls that failed (their output is what was received, often empty).
        salt: Hash salt (see the module docs).
        max_queue: Calls held waiting for judges; beyond it new samples are dropped and counted.
        max_queue_bytes: Content (request body and output) the waiting calls may hold, in bytes of
            memory; a sample that would go past it is dropped and counted, unless no call waits.
            With ``max_queue`` it bounds the queue's memory whatever the prompts' size.
        workers: Background judging threads.
        judge_timeout: Seconds after which a judge is abandoned and its judgment recorded as ``timeout``
            (not for the built-in ``no_refusal``, ``min_length`` and ``contains_keywords``, which run on
            the worker thread and have no timeout).
        max_hung_judges: Abandoned threads (timed out, still running) tolerated per judge; a judge
            with that many is not started again until one returns: its judgments are dropped and
            counted (reason ``judge_hung``), instead of costing a thread per timeout.
        on_drop: Called as ``on_drop(reason, call_id)`` when a sampled call is dropped (on the caller's
            thread: keep it cheap).
        retain_unsampled: Keep the content of the last N unsampled calls in memory, so that negative
            user feedback can still have them judged (0, the default, keeps nothing).
    """

    rate: float = 1.0
    prompts: Mapping[str, float] = field(default_factory=dict)
    tags: Mapping[str, float] = field(default_factory=dict)
    errors: bool = False
    salt: str = DEFAULT_SALT
    max_queue: int = 1000
    max_queue_bytes: int = 8 * 2**20
    workers: int = 2
    judge_timeout: float = 60.0
    max_hung_judges: int = 4
    on_drop: Callable[[str, str], None] | None = None
    retain_unsampled: int = 0

    def __post_init__(self) -> None:
        _rate(self.rate, "rate")
        for name, value in {**self.prompts, **self.tags}.items():
            _rate(value, repr(name))
        for name, low in (
            ("max_queue", 1),
            ("max_queue_bytes", 1),
            ("workers", 1),
            ("max_hung_judges", 0),
            ("retain_unsampled", 0),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigurationError(f"sampling {name}: expected an integer >= {low}, got {value!r}")
        timeout = self.judge_timeout
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout < math.inf:
            raise ConfigurationError(f"sampling judge_timeout: expected seconds > 0, got {timeout!r}")

    def rate_for(self, prompt: str | None = None, tags: Iterable[str] = ()) -> float:
        """The rate that applies to a call of ``prompt`` carrying ``tags``."""
        if prompt is not None and prompt in self.prompts:
            return self.prompts[prompt]
        matched = [self.tags[tag] for tag in tags if tag in self.tags]
        return max(matched) if matched else self.rate

    def decide(self, key: str, prompt: str | None = None, tags: Iterable[str] = ()) -> bool:
        """Whether the call keyed ``key`` (trace id, else call id) is sampled."""
        return should_sample(key, self.rate_for(prompt, tags), self.salt)

    @classmethod
    def coerce(cls, value: Any) -> Sampling:
        """Build from a rate, a mapping (config-file table) or a `Sampling`; ``None`` -> rate 1.0."""
        if value is None:
            return cls()
        if isinstance(value, Sampling):
            return value
        if isinstance(value, Mapping):
            unknown = sorted(set(value) - set(cls.__dataclass_fields__))
            if unknown:
                valid = ", ".join(sorted(cls.__dataclass_fields__))
                raise ConfigurationError(f"sampling: unknown key {unknown[0]!r}; valid keys: {valid}")
            return cls(**dict(value))
        return cls(rate=_rate(value, "rate"))
