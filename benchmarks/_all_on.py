"""The all-on guard of the overhead benchmark: every feature enabled at once.

Enforce with a lock rewrite, spans + metrics + cost (batch span processor, no-op exporters), a
prompt link, 5% judging with a rule judge, the SQLite cost ledger with a budget, and call refs
(always on).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import llmguard

ALIAS = "gpt-4o-mini"
"""The all-on variant calls this alias; the lock rewrites it to the snapshot the others call."""


def all_on_guard(*, store_judgments: bool = False) -> Any:
    """Build the guard (its temporary ledger lives as long as the process).

    Args:
        store_judgments: Write judgments to the guard's database (the ledger's SQLite file), as a
            deployed app does, instead of the `InMemorySink` of the overhead runs, which keeps every
            judgment (5% of calls) for the life of the process.
    """
    from benchmarks._worker import otel_providers
    from llmguard.cost import Budget
    from llmguard.judging import InMemorySink, Sampling

    tracer_provider, meter_provider = otel_providers()
    ledger = Path(tempfile.mkdtemp(prefix="llmguard-bench-")) / "ledger.db"
    if store_judgments:
        sink: dict[str, Any] = {"db": ledger}
    else:
        sink = {"judgment_sink": InMemorySink()}
    return llmguard.Guard(
        pin_policy="enforce",
        pins={ALIAS: "gpt-4o-mini-2024-07-18"},
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        judges=["no_refusal"],
        sampling=Sampling(rate=0.05),
        ledger=ledger,
        budgets=[Budget(period="day", soft_usd=1e9, hard_usd=1e9)],
        **sink,
    )


PROMPT = llmguard.PromptRef(name="support-bot", version="2.1.0", label="production", content_hash="0" * 64)
"""The registry prompt the all-on calls are linked to (``llmguard.use_prompt``)."""
