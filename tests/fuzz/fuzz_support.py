"""Shared pieces of the fuzz suite: the fixed example budget and the only-typed-errors check.

Every target calls `typed`: an `llmguard.LLMGuardError` is the expected way to refuse hostile
input; any other exception fails the test (Hypothesis then shrinks it to a minimal input). The
runs are derandomized, so CI tries the same inputs every time. ``LLMGUARD_FUZZ_STATS=path``
writes how many inputs each target tried and how they ended (for the suite's report).
"""

from __future__ import annotations

import atexit
import json
import os
from collections import Counter
from collections.abc import Callable
from typing import TypeVar

from hypothesis import HealthCheck, settings

from llmguard import LLMGuardError

__all__ = ["STATS", "fuzz", "typed"]

T = TypeVar("T")

STATS: Counter[tuple[str, str]] = Counter()
"""(target, outcome) -> inputs; outcome is ``accepted`` or ``typed`` (anything else fails the test)."""


def fuzz(max_examples: int) -> settings:
    """Hypothesis settings of one target: a fixed budget, deterministic, no timing checks."""
    return settings(
        max_examples=max_examples,
        derandomize=True,
        database=None,
        deadline=None,
        print_blob=True,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.function_scoped_fixture,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
        ],
    )


def typed(target: str, action: Callable[[], T]) -> T | None:
    """Run ``action``; count it as accepted or refused with a typed error; let anything else fail."""
    try:
        result = action()
    except LLMGuardError:
        STATS[target, "typed"] += 1
        return None
    STATS[target, "accepted"] += 1
    return result


def _write_stats() -> None:
    path = os.environ.get("LLMGUARD_FUZZ_STATS")
    if not path or not STATS:
        return
    table: dict[str, dict[str, int]] = {}
    for (target, outcome), count in sorted(STATS.items()):
        table.setdefault(target, {})[outcome] = count
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(table, handle, indent=2, sort_keys=True)


atexit.register(_write_stats)
