"""Per-call cost of pricing: llmguard's cached Decimal arithmetic vs ``genai_prices.calc_price``.

Run: ``python benchmarks/pricing.py``. Target: <= 10 µs per call for llmguard's pricer.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import genai_prices

from llmguard._pricing import PriceTable, to_genai_usage
from llmguard._record import Usage

CASES = [
    ("openai", "gpt-4o-2024-08-06", "flat"),
    ("openai", "gpt-5.4", "tiered"),
    ("anthropic", "claude-sonnet-4-5-20250929", "tiered + cache write"),
    ("anthropic", "claude-sonnet-4-6", "dated"),
    ("deepseek", "deepseek-chat", "time of day"),
]
USAGE = Usage(
    input_tokens=1200, output_tokens=300, cache_read_tokens=800, cache_write_tokens=100, reasoning_tokens=50
)


def per_call_us(func: Callable[[], object], number: int, repeat: int = 7) -> float:
    func()
    rounds = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            func()
        rounds.append((time.perf_counter() - start) / number * 1e6)
    return statistics.median(rounds)


def main() -> None:
    table = PriceTable()
    usage = to_genai_usage(USAGE, genai_prices.Usage)
    print(f"{'model':32} {'kind':22} {'llmguard µs':>12} {'calc_price µs':>14} {'speed-up':>9}")
    for provider, model, kind in CASES:

        def ours_call(p: str = provider, m: str = model) -> object:
            return table(p, m, USAGE)

        def theirs_call(p: str = provider, m: str = model) -> object:
            return genai_prices.calc_price(usage, m, provider_id=p)

        ours = per_call_us(ours_call, 20_000)
        theirs = per_call_us(theirs_call, 500)
        print(f"{model:32} {kind:22} {ours:12.2f} {theirs:14.1f} {theirs / ours:8.0f}x")


if __name__ == "__main__":
    main()
