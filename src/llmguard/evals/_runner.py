"""The runner: every case x repeat concurrently (bounded), judged, cached, summarized and gated."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from llmguard._core import CallContext
from llmguard._guard import Guard
from llmguard._record import CallRecord
from llmguard.exceptions import EvalError, LLMGuardError
from llmguard.judging import Judge, JudgeInput, JudgeResult, LLMJudge, resolve_judge
from llmguard.prompts import PromptRegistry, PromptVersion
from llmguard.testing import FakeProvider

from ._cache import ReplayCache, cache_key
from ._dataset import EvalCase, load_datasets
from ._fake import demo_provider
from ._results import CaseResult, EvalRun, Sample, Spend, checks_of, summarize_judge
from ._suite import PromptSpec, Suite, judge_params, load_suite

__all__ = ["SpendObserver", "arun_suite", "resolve_prompt", "run_suite"]


class SpendObserver:
    """Adds up tokens and cost of the run's calls, app calls and judge calls apart."""

    def __init__(self) -> None:
        self.app = Spend()
        self.judge = Spend()
        self._lock = threading.Lock()

    def on_start(self, call: CallContext) -> None:
        """Nothing to do before a call."""

    def on_end(self, call: CallContext, record: CallRecord) -> None:
        """Count the call."""
        cost = None if record.cost is None else float(record.cost.total)
        with self._lock:
            target = self.judge if record.kind == "judge" else self.app
            target.add(record.usage.input_tokens, record.usage.output_tokens, cost)


def resolve_prompt(suite: Suite, spec: PromptSpec | None = None) -> PromptVersion:
    """The prompt version a suite evaluates (or ``spec``, e.g. a compare baseline).

    Raises:
        EvalError: The prompt, version or label cannot be resolved.
    """
    spec = spec or suite.prompt
    registry = PromptRegistry.for_guard(Guard(), suite.prompts_dir)
    try:
        return registry.get(spec.name, spec.version, label=spec.label)
    except LLMGuardError as exc:
        raise EvalError(f"{suite.path}: prompt {spec}: {exc}") from None


class _Run:
    """The state of one run (kept off the public API)."""

    def __init__(self, suite: Suite, version: PromptVersion, cache: ReplayCache, client: Any) -> None:
        self.suite, self.version, self.cache, self.client = suite, version, cache, client
        model = suite.model or version.model
        if not model:
            raise EvalError(
                f"{suite.path}: prompt {suite.prompt} declares no model; set 'model:' in the suite"
            )
        self.model: str = model
        self.anthropic = suite.provider in ("anthropic", "fake-anthropic")
        self.base: dict[str, Judge] = {}
        self._judges: dict[tuple[str, str], Judge] = {}
        self._requests: dict[str, dict[str, Any]] = {}

    def _judge(self, key: str, case_params: dict[str, Any]) -> Judge:
        params = judge_params(self.suite, key, {key: case_params})
        if key == "llm_judge" or key.endswith(":LLMJudge"):
            params = {
                "async_client": self.client,
                "provider": "anthropic" if self.anthropic else "openai",
                **params,
            }
        judge = resolve_judge(key, **params)
        if isinstance(judge, LLMJudge) and judge.async_client is None:
            judge.async_client = self.client
        return judge

    def judge_for(self, key: str, case: EvalCase) -> Judge:
        params = dict(case.judge_params.get(key, {}))
        if not params:
            return self.base[key]
        memo = (key, json.dumps(params, sort_keys=True, default=str))
        if memo not in self._judges:
            self._judges[memo] = self._judge(key, params)
        return self._judges[memo]

    def request(self, case: EvalCase) -> dict[str, Any]:
        if case.id not in self._requests:
            self._requests[case.id] = self._render(case)
        return self._requests[case.id]

    def _render(self, case: EvalCase) -> dict[str, Any]:
        rendered = self.version.render(**case.variables)
        if case.input is not None:
            rendered = rendered.with_user(case.input)
        if self.anthropic:
            return dict(rendered.anthropic_messages(model=self.model, max_tokens=self.suite.max_tokens))
        return dict(rendered.openai_chat(model=self.model))

    def response_key(self, case: EvalCase, repeat: int) -> str:
        return cache_key(
            prompt=self.version.content_hash,
            variables=case.variables,
            input=case.input,
            model=self.model,
            provider=self.suite.provider,
            parameters=self.version.parameters,
            max_tokens=self.suite.max_tokens if self.anthropic else None,
            fake_quality=self.suite.fake_quality if self.suite.is_fake else None,
            repeat=repeat,
        )

    async def call(self, request: dict[str, Any]) -> str:
        if self.anthropic:
            message = await self.client.messages.create(**request)
            return "".join(getattr(block, "text", "") for block in message.content)
        completion = await self.client.chat.completions.create(**request)
        return str(completion.choices[0].message.content or "")

    async def sample(self, case: EvalCase, repeat: int) -> Sample:
        sample = Sample(repeat)
        try:
            request = self.request(case)
            key = self.response_key(case, repeat) if self.cache.enabled else ""

            hit = self.cache.get("responses", key)
            if hit is not None:
                sample.output, sample.cached = str(hit["output"]), True
            else:
                sample.output = await self.call(request)
                self.cache.put("responses", key, {"output": sample.output, "model": self.model})
        except LLMGuardError:
            raise
        except Exception as exc:  # a provider error fails this sample, not the run
            sample.error = f"{type(exc).__name__}: {exc}"
            return sample
        for judge_key in self.suite.judges:
            await self._judge_one(sample, case, judge_key, request, key)
        return sample

    async def _judge_one(
        self, sample: Sample, case: EvalCase, key: str, request: dict[str, Any], rkey: str
    ) -> None:
        judge = self.judge_for(key, case)
        output = sample.output or ""
        jkey = self._judgment_key(rkey, judge, case, output)
        hit = self.cache.get("judgments", jkey) if jkey else None
        if hit is not None:
            sample.results[key] = JudgeResult(**{**hit, "scale": tuple(hit["scale"])})
            return
        item = JudgeInput(
            output=output, input=request, reference=case.expected_output, metadata={"case": case.id}
        )
        try:
            result = await judge.aevaluate(item)
        except LLMGuardError:
            raise
        except Exception as exc:
            sample.judge_errors[key] = f"{type(exc).__name__}: {exc}"
            return
        sample.results[key] = result
        self.cache.put("judgments", jkey, _result_json(result))

    def _judgment_key(self, rkey: str, judge: Judge, case: EvalCase, output: str) -> str:
        if not self.cache.enabled:
            return ""
        return cache_key(
            response=rkey, judge=judge.fingerprint, reference=case.expected_output, output=output
        )


def _result_json(result: JudgeResult) -> dict[str, Any]:
    return {
        "name": result.name,
        "score": result.score,
        "scale": list(result.scale),
        "label": result.label,
        "passed": result.passed,
        "reason": result.reason,
        "fingerprint": result.fingerprint,
    }


@contextmanager
def _progress(total: int, enabled: bool) -> Iterator[Callable[[], None]]:
    if not enabled or not sys.stderr.isatty():
        yield lambda: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("eval"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=True
    ) as bar:
        task = bar.add_task("eval", total=total)
        yield lambda: bar.advance(task)


def _answers(run: _Run, cases: list[EvalCase]) -> dict[str, str]:
    out = {}
    for case in cases:
        if case.expected_output is not None:
            messages = run.request(case)["messages"]
            out[str(messages[-1]["content"])] = case.expected_output
    return out


async def _execute(run: _Run, cases: list[EvalCase], progress: bool) -> list[CaseResult]:
    results = [CaseResult(case, [Sample(r) for r in range(run.suite.repeats)]) for case in cases]
    gate = asyncio.Semaphore(run.suite.concurrency)
    with _progress(len(cases) * run.suite.repeats, progress) as advance:

        async def one(result: CaseResult, repeat: int) -> None:
            async with gate:
                result.samples[repeat] = await run.sample(result.case, repeat)
            advance()

        async with asyncio.TaskGroup() as group:
            for result in results:
                for repeat in range(run.suite.repeats):
                    group.create_task(one(result, repeat))
    return results


def _client(suite: Suite, guard: Guard, fake: FakeProvider | None) -> Any:
    import llmguard

    if suite.provider == "anthropic":
        return llmguard.AsyncAnthropic(guard=guard)
    if suite.provider == "openai":
        return llmguard.AsyncOpenAI(guard=guard)
    cls: Any = llmguard.AsyncAnthropic if suite.provider == "fake-anthropic" else llmguard.AsyncOpenAI
    assert fake is not None
    return fake.client(cls, guard=guard, max_retries=0)


async def arun_suite(
    suite: Suite | str | Path,
    *,
    cache: bool = True,
    write_record: bool = True,
    progress: bool = False,
    client: Any = None,
    fake: FakeProvider | None = None,
    prompt: PromptSpec | None = None,
    guard: Guard | None = None,
    only: Collection[str] | None = None,
) -> EvalRun:
    """Run a suite and apply its gate (async).

    Args:
        suite: A suite, or the path of a suite file.
        cache: Read and write the replay cache (``False``: ``--no-cache``).
        write_record: Write the eval record under the suite's ``records_dir``.
        progress: Show a progress bar on a terminal.
        client: An async client to call (default: built for the suite's provider).
        fake: For ``provider: fake``: the fake provider to serve from (default: the demo provider).
        prompt: Evaluate this prompt instead of the suite's (``compare`` baselines).
        guard: The guard of the default client (default: one with the suite's pin policy).
        only: Run only the cases with these ids.

    Returns:
        The run, with ``passed`` set by the gate.

    Raises:
        EvalError: A bad suite, dataset or prompt, or a refused call (a pin policy, a render error).
    """
    suite = suite if isinstance(suite, Suite) else load_suite(suite)
    datasets = load_datasets(suite.datasets)
    cases = [case for d in datasets for case in d.cases if only is None or case.id in only]
    if not cases:
        raise EvalError(f"{suite.path}: no case to run (ids {sorted(only or ())})")
    version = resolve_prompt(suite, prompt)
    spend = SpendObserver()
    guard = guard or Guard(pin_policy=suite.pin_policy, observers=[spend])
    replay = ReplayCache(suite.cache_dir, enabled=cache)
    started, clock = dt.datetime.now(dt.UTC), time.perf_counter()
    run = _Run(suite, version, replay, client)
    if client is None and suite.is_fake and fake is None:
        kind: Literal["openai", "anthropic"] = "anthropic" if suite.provider == "fake-anthropic" else "openai"
        fake = demo_provider(_answers(run, cases), quality=suite.fake_quality, kind=kind)
    own = client is None
    run.client = client if client is not None else _client(suite, guard, fake)
    run.base = {k: run._judge(k, {}) for k in suite.judges}
    try:
        results = await _execute(run, cases, progress)
    except* LLMGuardError as group:
        raise EvalError(f"{suite.path}: {group.exceptions[0]}") from None
    finally:
        if own:
            await run.client.close()
    evaluated = _finish(run, results, spend, started, time.perf_counter() - clock, datasets)
    if write_record:
        from ._records import write_record as write

        evaluated.record_path = str(write(evaluated))
    return evaluated


def _finish(
    run: _Run,
    results: list[CaseResult],
    spend: SpendObserver,
    started: dt.datetime,
    took: float,
    datasets: Any,
) -> EvalRun:
    suite = run.suite
    summaries = {
        key: summarize_judge(suite, key, results, tuple(judge.scale), judge.fingerprint)  # type: ignore[arg-type]
        for key, judge in run.base.items()
    }
    failures = [str(c) for c in checks_of(summaries) if not c.ok]
    errored = sum(1 for r in results for s in r.samples if s.error)
    if errored:
        failures.append(f"{errored} sample(s) errored")
    return EvalRun(
        suite=suite,
        prompt={
            "name": run.version.name,
            "version": run.version.version,
            "content_hash": run.version.content_hash,
        },
        model=run.model,
        run_id=f"{started:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}",
        started_at=started.isoformat(timespec="seconds"),
        duration_s=took,
        datasets={_relative(d.path, suite.path.parent): d.content_hash for d in datasets},
        cases=results,
        judges=summaries,
        passed=not failures,
        failures=failures,
        app_spend=spend.app,
        judge_spend=spend.judge,
        cache_hits=run.cache.hits,
    )


def _relative(path: Path, base: Path) -> str:
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def run_suite(suite: Suite | str | Path, **options: Any) -> EvalRun:
    """Run a suite from sync code (``asyncio.run`` over :func:`arun_suite`; same options)."""
    return asyncio.run(arun_suite(suite, **options))
