"""The eval pytest plugin: run a suite (or single cases) as tests, so ``pytest`` fails when the gate fails.

```python
@pytest.mark.llmguard_eval("evals/support-bot.suite.yaml", repeats=1)
def test_support_bot_gate(llmguard_eval: EvalSuiteRunner) -> None:
    run = llmguard_eval()                   # fails the test when the gate fails
    assert run.eval_score > 0.8


@pytest.mark.parametrize("case_id", eval_case_ids("evals/support-bot.suite.yaml"))
def test_case(llmguard_eval_case: EvalCaseRunner, case_id: str) -> None:
    llmguard_eval_case("evals/support-bot.suite.yaml", case_id)
```

Fixtures and a marker only (no autouse fixtures, no collection hooks).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ._results import EvalRun, case_failures
from ._runner import run_suite
from ._suite import eval_case_ids, load_suite

__all__ = [
    "EvalCaseRunner",
    "EvalSuiteRunner",
    "eval_case_ids",
    "llmguard_eval",
    "llmguard_eval_case",
    "pytest_configure",
]

_MARKER = "llmguard_eval"
EvalCaseRunner = Callable[..., EvalRun]
"""``runner(suite_path, case_id, **options)``: runs one case and fails the test when it fails."""
EvalSuiteRunner = Callable[..., EvalRun]
"""``runner(suite_path=None, **options)``: runs a suite and fails the test when its gate fails."""


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``llmguard_eval`` marker."""
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(suite, cache=True, write_record=False, **overrides): run an llmguard eval suite for the "
        "llmguard_eval fixture; the test fails when the gate fails",
    )


def _run(suite: str | Path, options: dict[str, Any], only: str | None = None) -> EvalRun:
    run_options: dict[str, Any] = {
        k: options.pop(k) for k in ("cache", "write_record", "fake", "client") if k in options
    }
    run_options.setdefault("write_record", False)
    if only is not None:
        run_options["only"] = [only]
    return run_suite(load_suite(suite, **options), **run_options)


@pytest.fixture
def llmguard_eval(request: pytest.FixtureRequest) -> EvalSuiteRunner:
    """A function running a suite; it fails the test when the gate fails.

    Called without a suite, it runs the one named by the closest ``llmguard_eval`` marker (the
    marker's keyword arguments are defaults, the call's override them).
    """
    marker = request.node.get_closest_marker(_MARKER)

    def runner(suite: str | Path | None = None, **options: Any) -> EvalRun:
        defaults: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
        target = suite or (marker.args[0] if marker is not None and marker.args else None)
        if target is None:
            raise pytest.UsageError(
                "llmguard_eval(): pass a suite path or mark the test llmguard_eval('suite.yaml')"
            )
        run = _run(target, {**defaults, **options})
        if not run.passed:
            pytest.fail(f"eval gate failed for {run.suite.name}: " + "; ".join(run.failures), pytrace=False)
        return run

    return runner


@pytest.fixture
def llmguard_eval_case() -> EvalCaseRunner:
    """A function running one case of a suite; it fails the test when that case fails."""

    def runner(suite: str | Path, case_id: str, **options: Any) -> EvalRun:
        run = _run(suite, dict(options), case_id)
        result = next(c for c in run.cases if c.case.id == case_id)
        why = case_failures(result, run.suite)
        if why:
            pytest.fail(f"eval case {case_id} failed: " + "; ".join(why), pytrace=False)
        return run

    return runner
