"""Eval suites and the CI gate: golden datasets, repeats, confidence intervals, reports and gated promotion.

```python
from llmguard.evals import run_suite

run = run_suite("evals/support-bot.suite.yaml")
assert run.passed, run.failures
```

The command line is ``llmguard eval run SUITE`` (exit 0 gate passed, 1 gate failed, 2 configuration
or data error); :class:`EvalGate` is a promotion gate for ``PromptRegistry(gate=...)``.
"""

from ._cache import ReplayCache, cache_key
from ._compare import CaseDelta, Comparison, acompare, compare_runs, print_comparison
from ._dataset import Dataset, EvalCase, load_dataset, load_datasets
from ._fake import demo_provider, overlap, overlap_score
from ._html import histogram_svg, to_html
from ._records import DEFAULT_PROTECTED, EvalGate, find_records, latest_record, record_json, write_record
from ._report import print_summary, to_json, to_junit, to_markdown
from ._results import CaseResult, Check, EvalRun, JudgeSummary, Sample, Spend, TagSummary
from ._runner import arun_suite, resolve_prompt, run_suite
from ._stats import Interval, t_interval, t_quantile
from ._suite import (
    CompareGate,
    JudgeGate,
    PromptSpec,
    Suite,
    TagGate,
    eval_case_ids,
    load_suite,
    parse_prompt_spec,
)

__all__ = [
    "DEFAULT_PROTECTED",
    "CaseDelta",
    "CaseResult",
    "Check",
    "CompareGate",
    "Comparison",
    "Dataset",
    "EvalCase",
    "EvalGate",
    "EvalRun",
    "Interval",
    "JudgeGate",
    "JudgeSummary",
    "PromptSpec",
    "ReplayCache",
    "Sample",
    "Spend",
    "Suite",
    "TagGate",
    "TagSummary",
    "acompare",
    "arun_suite",
    "cache_key",
    "compare_runs",
    "demo_provider",
    "eval_case_ids",
    "find_records",
    "histogram_svg",
    "latest_record",
    "load_dataset",
    "load_datasets",
    "load_suite",
    "overlap",
    "overlap_score",
    "parse_prompt_spec",
    "print_comparison",
    "print_summary",
    "record_json",
    "resolve_prompt",
    "run_suite",
    "t_interval",
    "t_quantile",
    "to_html",
    "to_json",
    "to_junit",
    "to_markdown",
    "write_record",
]
