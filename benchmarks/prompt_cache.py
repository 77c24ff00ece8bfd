"""Cached ``guard.prompts.get`` latency (target: <= 5 us per call), against a plain dict lookup.

Run: ``python benchmarks/prompt_cache.py``.
"""

from __future__ import annotations

import sys
import timeit
from collections.abc import Callable

from llmguard.prompts import MemoryStore, PromptRegistry, PromptVersion

N = 200_000


def main() -> int:
    versions = [
        PromptVersion(name="bot", version=f"2.{i}.0", model="gpt-4o-2024-08-06", system_prompt="hi")
        for i in range(20)
    ]
    registry = PromptRegistry(MemoryStore(versions), ttl=60)
    registry.promote("bot", "2.3.0", label="production")
    registry.promote("bot", {"2.3.0": 90, "2.4.0": 10}, label="canary")
    table = {"bot": versions[3]}
    cases: dict[str, Callable[[], object]] = {
        "dict lookup (baseline)": lambda: table["bot"],
        "get(name) -> production label": lambda: registry.get("bot"),
        "get(name, '^2.1') range": lambda: registry.get("bot", "^2.1"),
        "get(name, label=canary, key=...)": lambda: registry.get("bot", label="canary", key="user-42"),
    }
    worst = 0.0
    for title, fn in cases.items():
        fn()
        best = min(timeit.repeat(fn, number=N, repeat=5)) / N * 1e6
        if "baseline" not in title:
            worst = max(worst, best)
        print(f"{title:<36} {best:6.2f} us")
    verdict = "ok" if worst <= 5.0 else "over target"
    print(f"worst cached get: {worst:.2f} us (target <= 5 us): {verdict}")
    return 0 if worst <= 5.0 else 1


if __name__ == "__main__":
    sys.exit(main())
