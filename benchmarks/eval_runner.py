"""Benchmark: the eval runner's own overhead.

1,000 cases against the offline fake provider answering after 50 ms, at concurrency 32, one
repeat, no cache, async client: first with rule judges only (target ≤ 2.5 s wall; the latency
floor is 1000 / 32 x 50 ms ≈ 1.56 s), then with ``llm_judge`` on as well (a second 50 ms fake
call per case), reported separately. Timings are printed, never asserted.

The stock async openai SDK alone (same fake, same concurrency, no llmguard) is measured in the same
run as ``raw_sdk_calls_only_s``: on a slow CPU its own request building bounds the runner.

Run: ``python benchmarks/eval_runner.py [--cases 1000] [--latency 0.05] [--concurrency 32]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from llmguard.evals import demo_provider, run_suite

PROMPT = """version: "1.0.0"
model: "gpt-4o-mini-2024-07-18"
system_prompt: "You are a support agent for Acme Corp."
"""
RULES: dict[str, dict[str, object]] = {
    "no_refusal": {},
    "min_length": {"min_chars": 10},
    "contains_keywords": {"required": ["acme"]},
}
LLM: dict[str, dict[str, object]] = {
    "llm_judge": {"model": "gpt-4o-2024-08-06", "rubric": "Correct and complete."}
}


def _project(folder: Path, cases: int) -> dict[str, str]:
    (folder / "prompts" / "bench").mkdir(parents=True)
    (folder / "prompts" / "bench" / "v1.0.0.yaml").write_text(PROMPT)
    answers = {
        f"Question {i} about Acme?": f"Acme answer number {i} with enough words." for i in range(cases)
    }
    lines = [
        json.dumps({"id": f"c{i}", "input": q, "expected_output": a})
        for i, (q, a) in enumerate(answers.items())
    ]
    (folder / "golden.jsonl").write_text("\n".join(lines) + "\n")
    return answers


def _suite(folder: Path, judges: dict[str, dict[str, object]], concurrency: int) -> Path:
    path = folder / f"bench-{len(judges)}.suite.yaml"
    gate = {"no_refusal": {"pass_rate": 1.0}}
    data = {
        "prompt": "bench@1.0.0", "datasets": ["golden.jsonl"], "judges": judges, "gate": gate,
        "primary": "no_refusal", "repeats": 1, "concurrency": concurrency, "provider": "fake",
    }  # fmt: skip
    path.write_text(json.dumps(data))
    return path


def measure(
    folder: Path, answers: dict[str, str], judges: dict[str, dict[str, object]], args: argparse.Namespace
) -> dict[str, object]:
    fake = demo_provider(answers, latency=args.latency)
    suite = _suite(folder, judges, args.concurrency)
    start = time.perf_counter()
    run = run_suite(suite, fake=fake, cache=False, write_record=False)
    wall = time.perf_counter() - start
    return {
        "judges": sorted(judges),
        "wall_s": round(wall, 3),
        "run_s": round(run.duration_s, 3),
        "provider_calls": fake.call_count,
        "passed": run.passed,
    }


async def _raw_sdk(answers: dict[str, str], args: argparse.Namespace) -> float:
    import openai

    fake = demo_provider(answers, latency=args.latency)
    gate = asyncio.Semaphore(args.concurrency)
    async with fake.client(openai.AsyncOpenAI) as client:

        async def one(question: str) -> None:
            async with gate:
                messages: Any = [
                    {"role": "system", "content": "You are a support agent."},
                    {"role": "user", "content": question},
                ]
                await client.chat.completions.create(model="gpt-4o-mini-2024-07-18", messages=messages)

        start = time.perf_counter()
        await asyncio.gather(*(one(q) for q in answers))
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        answers = _project(folder, args.cases)
        raw = asyncio.run(_raw_sdk(answers, args))
        rules = measure(folder, answers, RULES, args)
        with_llm = measure(folder, answers, {**RULES, **LLM}, args)
    floor = args.cases / args.concurrency * args.latency
    print(
        json.dumps(
            {
                "cases": args.cases,
                "latency_s": args.latency,
                "concurrency": args.concurrency,
                "latency_floor_s": round(floor, 3),
                "raw_sdk_calls_only_s": round(raw, 3),
                "rule_judges": rules,
                "with_llm_judge": with_llm,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
