"""A slow LLM judge at 100 % sampling while the app keeps full speed (offline, fake provider).

Every call is sampled; an LLM judge (answering after 0.5 s) and two rule judges score them on
background threads. The app's calls take the same time with and without judging; the judge
queue is bounded, so under load extra samples are dropped and counted, never waited for.
"""

from __future__ import annotations

import json
import time
from typing import Any

import llmguard
from llmguard.judging import InMemorySink, LLMJudge, Sampling
from llmguard.testing import FakeOpenAI, FakeRequest

APP_MODEL = "gpt-4o-mini-2024-07-18"
JUDGE_MODEL = "gpt-4o-2024-08-06"
MESSAGES: Any = [{"role": "user", "content": "What is the capital of France?"}]


def answer(request: FakeRequest) -> str:
    if "response_format" in request.body:  # the judge's structured-output request
        return json.dumps({"score": 4, "reason": "Correct and concise."})
    return "The capital of France is Paris."


def timed_calls(guard: llmguard.Guard, app: FakeOpenAI, n: int) -> float:
    with app.client(llmguard.OpenAI, guard=guard) as client:
        start = time.perf_counter()
        for _ in range(n):
            client.chat.completions.create(model=APP_MODEL, messages=MESSAGES)
        return time.perf_counter() - start


def main() -> None:
    app = FakeOpenAI(reply=answer)
    judge_backend = FakeOpenAI(reply=answer, latency=0.5)  # a slow judge model
    sink = InMemorySink()
    guard = llmguard.Guard(
        pin_policy="enforce",
        sampling=Sampling(rate=1.0, max_queue=20, workers=2),
        judgment_sink=sink,
    )
    judge_client = judge_backend.client(llmguard.OpenAI, guard=guard)
    guard.judges = [
        "no_refusal",
        ("min_length", {"min_chars": 10}),
        LLMJudge(rubric="Is the answer correct and concise?", model=JUDGE_MODEL, client=judge_client),
    ]
    baseline = timed_calls(llmguard.Guard(pin_policy="enforce"), app, 200)
    judged = timed_calls(guard, app, 200)
    print(f"200 calls: {baseline:.2f}s without judging, {judged:.2f}s with a 0.5 s judge at 100 % sampling")

    guard.flush(timeout=10)
    stats = guard.stats().judging
    assert stats is not None  # None only when judging is off or no call was made
    print(
        f"judgments: sampled={stats.sampled} judged={stats.judged} errored={stats.errored} dropped={stats.dropped}"
    )
    assert stats.judged + stats.errored + stats.dropped + stats.pending == stats.sampled
    llm = [j for j in sink.judgments if j.judge == "llm_judge" and j.result is not None]
    if llm and llm[0].result is not None:
        print(f"an LLM judgment: score {llm[0].result.score} ({llm[0].result.reason})")
    guard.close(timeout=5)
    judge_client.close()


if __name__ == "__main__":
    main()
