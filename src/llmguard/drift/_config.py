"""The drift configuration: one frozen object, from code or from ``[tool.llmguard.drift]``."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from llmguard.exceptions import ConfigurationError
from llmguard.judging._sampler import Sampling

from ._deps import require_drift_extra
from ._rules import DriftRule, default_rules, rule_from_table

__all__ = ["DRIFT_SALT", "DriftConfig", "Extractor"]

DRIFT_SALT = "llmguard:drift:v1"
"""The salt of the drift sample: independent of the judging sample."""

Extractor = Callable[[Mapping[str, Any]], "str | None"]
"""Request body -> the text to embed (None: skip the call)."""

_SAMPLING_KEYS = ("rate", "prompts", "tags", "max_queue", "max_queue_bytes")


@dataclass(frozen=True, kw_only=True)
class DriftConfig:
    """What input drift samples, embeds, keeps and alerts on.

    Attributes:
        model: The embedding model (the pin policy applies to it like to any call).
        sampling: Which app calls are embedded: a rate, a mapping of `llmguard.judging.Sampling`
            fields, or a `Sampling` (its ``max_queue`` and ``max_queue_bytes`` bound the background
            queue). The salt defaults to `DRIFT_SALT`, so the drift sample is independent of the
            judging one.
        client: A guarded client (``llmguard.OpenAI(guard=...)``) or a callable ``guard -> client``;
            default ``llmguard.OpenAI(guard=guard)``. An unguarded SDK client is refused.
        extractor: ``request body -> text``; default: the last user message (chat), the prompt
            (completions) or the input (responses).
        store: Where vectors go: a `DriftStore`, an SQLAlchemy engine or URL; default the
            guard's database (``db``: SQLite or PostgreSQL).
        retention_days: Vectors older than this are pruned in the background (personal-data-adjacent).
        retain_content: Also store the input text (capped at ``max_content_chars``), so reports can
            show representative inputs per cluster. Off by default.
        max_content_chars: The cap on stored text and on the text sent for embedding.
        dimensions: Ask the embeddings API for this many dimensions (None: the model's default).
        batch_size: Inputs per embeddings request.
        baseline_days: Trailing baseline length (days before the current window).
        baseline: A fixed baseline instead: ``(first_day, last_day)`` inclusive, ISO dates.
        current_days: The current window: the last ``current_days`` UTC days up to now.
        rules: Alert rules (default `default_rules`).
        callbacks: Called with each new alert (on the background thread).
        check_interval_s: Seconds between background rule evaluations (0: only `check_drift`).
        prune_interval_s: Seconds between background retention prunes.
        permutations: MMD permutations (the p-value resolution is ``1 / (permutations + 1)``).
        max_samples: Rows per window fed to MMD (seeded uniform subsample).
        seed: Seed of subsampling, permutations and k-means.
    """

    model: str = "text-embedding-3-small"
    sampling: Any = 0.1
    client: Any = None
    extractor: Extractor | None = None
    store: Any = None
    retention_days: float = 30.0
    retain_content: bool = False
    max_content_chars: int = 2000
    dimensions: int | None = None
    batch_size: int = 32
    baseline_days: int = 7
    baseline: tuple[str, str] | None = None
    current_days: int = 1
    rules: Sequence[DriftRule] = field(default_factory=default_rules)
    callbacks: Sequence[Callable[[Any], None]] = ()
    check_interval_s: float = 3600.0
    prune_interval_s: float = 3600.0
    permutations: int = 200
    max_samples: int = 500
    seed: int = 0

    def __post_init__(self) -> None:
        require_drift_extra()
        object.__setattr__(self, "sampling", _sampling(self.sampling))
        object.__setattr__(self, "rules", tuple(self.rules))
        if not isinstance(self.model, str) or not self.model:
            raise ConfigurationError(f"drift model: expected a model name, got {self.model!r}")
        for name in ("baseline_days", "current_days", "batch_size", "max_content_chars", "max_samples"):
            _positive(name, getattr(self, name), integer=True)
        _positive("permutations", self.permutations, integer=True, zero=False)
        for name in ("retention_days", "check_interval_s", "prune_interval_s"):
            _positive(name, getattr(self, name), zero=True)
        tested = [r.alpha for r in self.rules if r.metric != "centroid"]
        if tested and 1 / (self.permutations + 1) >= min(tested):
            raise ConfigurationError(
                f"drift permutations={self.permutations}: the smallest p-value is 1/{self.permutations + 1}, "
                f"which never gets below alpha={min(tested):g}; raise permutations"
            )
        if self.baseline is not None:
            object.__setattr__(self, "baseline", _baseline(self.baseline))
        if self.extractor is not None and not callable(self.extractor):
            raise ConfigurationError(f"drift extractor: expected a callable, got {self.extractor!r}")

    def baseline_dates(self) -> tuple[date, date] | None:
        """The fixed baseline as dates, or None for a trailing one."""
        if self.baseline is None:
            return None
        return date.fromisoformat(self.baseline[0]), date.fromisoformat(self.baseline[1])

    @classmethod
    def coerce(cls, value: Any) -> DriftConfig:
        """Build from ``True``, a mapping (the ``[tool.llmguard.drift]`` table) or a `DriftConfig`."""
        if isinstance(value, DriftConfig):
            return value
        if value is True:
            return cls()
        if not isinstance(value, Mapping):
            raise ConfigurationError(f"drift: expected true, a table or a DriftConfig, got {value!r}")
        spec = dict(value)
        spec.pop("enabled", None)
        sampling = {k: spec.pop(k) for k in _SAMPLING_KEYS if k in spec}
        if sampling:
            spec["sampling"] = sampling
        if "url" in spec:
            spec["store"] = spec.pop("url")
        if "rules" in spec:
            rules = spec["rules"]
            if not isinstance(rules, list):
                raise ConfigurationError("drift rules: expected a list of tables")
            spec["rules"] = [rule_from_table(r, f"drift rules[{i}]") for i, r in enumerate(rules)]
        if "baseline" in spec and isinstance(spec["baseline"], list):
            spec["baseline"] = tuple(spec["baseline"])
        fields = {f.name for f in dataclasses.fields(cls)} - {"client", "extractor", "callbacks"}
        unknown = sorted(set(spec) - fields)
        if unknown:
            raise ConfigurationError(
                f"drift: unknown key {unknown[0]!r}; valid keys: {', '.join(sorted(fields | {'url', *_SAMPLING_KEYS}))}"
            )
        try:
            return cls(**spec)
        except TypeError as exc:
            raise ConfigurationError(f"drift: {exc}") from None


def _sampling(value: Any) -> Sampling:
    if isinstance(value, Sampling):
        return value
    sampling = Sampling.coerce(value)
    if not (isinstance(value, Mapping) and "salt" in value):
        sampling = dataclasses.replace(sampling, salt=DRIFT_SALT)
    return sampling


def _positive(name: str, value: object, *, integer: bool = False, zero: bool = False) -> None:
    kinds = int if integer else int | float
    number = float(value) if isinstance(value, kinds) and not isinstance(value, bool) else math.nan
    if not math.isfinite(number) or number < 0 or (number == 0 and not zero):
        bound = ">= 0" if zero else "> 0"
        raise ConfigurationError(
            f"drift {name}: expected a {'whole ' if integer else ''}number {bound}, got {value!r}"
        )


def _baseline(value: object) -> tuple[str, str]:
    if not (isinstance(value, tuple | list) and len(value) == 2):
        raise ConfigurationError(f"drift baseline: expected [first_day, last_day], got {value!r}")
    try:
        first, last = (date.fromisoformat(str(v)) for v in value)
    except ValueError:
        raise ConfigurationError(f"drift baseline: expected ISO dates (2025-03-01), got {value!r}") from None
    if last < first:
        raise ConfigurationError(f"drift baseline: {last} is before {first}")
    return first.isoformat(), last.isoformat()
