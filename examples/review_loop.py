"""The ground-truth loop, offline: traffic -> judge -> human review -> calibrate -> refresh -> eval.

1. A support bot answers 40 questions (a fake provider). Content capture is on, with a redaction
   hook; the review router sends a salted-hash sample of calls, and every call a judge scores below
   0.5, to the human review queue. Negative end-user feedback is queued too (``store.sync()``).
2. Two reviewers label the queue (here by a scripted rule; in real life `llmguard review next`/
   `label` or the web page, `llmguard review serve`). Labels are feedback with ``source=review``.
3. `calibrate` measures how far the LLM judge agrees with the humans (Cohen's kappa, Spearman).
4. `refresh_candidates` proposes golden cases from the reviewed and badly rated calls, in a separate
   file; `apply_candidates` appends the ones a human completed.
5. The eval suite runs over a sample of the recent traffic (`llmguard eval run SUITE --traffic 7d`).

Run it: ``python examples/review_loop.py``. Nothing leaves the machine.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import llmguard
from llmguard import evals
from llmguard.judging import JudgeInput, SQLiteSink
from llmguard.review import (
    ReviewRouter,
    ReviewStore,
    Routing,
    apply_candidates,
    calibrate,
    parse_window,
    record_label,
    refresh_candidates,
    traffic_cases,
)
from llmguard.testing import FakeOpenAI, FakeRequest

MODEL = "gpt-4o-mini-2024-07-18"
HERE = Path(__file__).resolve().parent
QUESTIONS = [
    "How do I reset my password?",
    "Where is my order? Mail me at ann@example.com",
    "Can I change my delivery address?",
    "How do I cancel my subscription?",
    "Do you ship to Canada?",
    "How do I reset my password",  # a duplicate, differently typed
]
SUITE = """\
prompt: support-bot@2.1.0
prompts_dir: prompts
provider: fake
model: gpt-4o-2024-08-06
datasets: [golden.jsonl]
judges:
  min_length: {min_chars: 20}
  no_refusal: {}
gate:
  min_length: {pass_rate: 0.5}
primary: min_length
"""


def redact(text: str) -> str:
    """The guard's redaction hook: e-mail addresses never reach storage."""
    return re.sub(r"[\w.+-]+@[\w-]+\.[\w.]+", "[email]", text)


def answer(request: FakeRequest) -> str:
    """The bot: helpful on some topics, unhelpful on others."""
    text = json.dumps(request.body.get("messages", []))
    if "password" in text or "address" in text:
        return "Open Settings > Security and choose Reset; we send a link to your e-mail."
    return "I don't know."


def helpfulness(item: JudgeInput) -> float:
    """A stand-in LLM judge (0..1). It is too generous on short answers: calibration will show it."""
    return 0.2 if item.output.startswith("I don't") and "order" in item.input_text else 0.8


def human_verdict(content: dict[str, Any]) -> bool:
    """What a careful reviewer decides: "I don't know." is never a pass."""
    return not str(content.get("output", "")).startswith("I don't")


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="llmguard-review-loop-"))
    try:
        run_loop(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def traffic(work: Path) -> tuple[llmguard.Guard, ReviewStore]:
    db = work / "llmguard.db"
    router = ReviewRouter(db, Routing(rate=0.3, judge_threshold=0.5))
    guard = llmguard.Guard(
        db_path=db, pin_policy="off", capture_content=True, telemetry={"redact": redact},
        observers=[router], judges=[helpfulness], sampling={"rate": 1.0, "retain_unsampled": 100},
        judgment_sink=router.judgment_sink(SQLiteSink(db)),
    )  # fmt: skip
    with FakeOpenAI(reply=answer).client(llmguard.OpenAI, guard=guard) as client:
        for i in range(40):
            question = QUESTIONS[i % len(QUESTIONS)]
            response = client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": question}]
            )
            if "Canada" in question:
                llmguard.feedback(response, "thumbs", False, guard=guard)  # an unhappy end user
    guard.flush(10)
    router.flush(10)
    store = ReviewStore(db)
    store.sync()  # negative feedback with retained content joins the queue
    print(
        f"1. traffic: 40 calls; review queue {store.stats()['queued']} calls by reason {store.stats()['by_reason']}"
    )
    return guard, store


def review(guard: llmguard.Guard, store: ReviewStore) -> None:
    for reviewer in ("ann", "bob"):
        while (item := store.next_item(reviewer)) is not None:
            verdict = human_verdict(dict(item.content))
            if reviewer == "bob" and item.call_id.endswith(("0", "5")):
                verdict = not verdict  # reviewers disagree now and then
            corrected = None
            if not verdict and reviewer == "ann" and "Canada" in json.dumps(item.content["input"]):
                corrected = "Yes: we ship to Canada in 5-7 business days."
            record_label(guard, store, item.call_id, reviewer, verdict, corrected=corrected)
    stats = store.stats()
    print(
        f"2. review: {stats['labels']} labels on {stats['labelled']} calls, pass rate {stats['pass_rate']:.2f}"
    )


def run_loop(work: Path) -> None:
    guard, store = traffic(work)
    review(guard, store)
    report = calibrate(store, resamples=300)
    for j in report.judges:
        ci = f"[{j.kappa.low:.2f}, {j.kappa.high:.2f}]" if j.kappa.low is not None else "[-]"
        kappa = f"{j.kappa.value:.2f}" if j.kappa.value is not None else "-"
        print(f"3. calibrate: judge {j.judge} kappa {kappa} {ci} n={j.n}; confusion {j.confusion}")
    agree = report.reviewers
    print(
        f"   reviewers agree: kappa {agree.value if agree.value is None else round(agree.value, 2)} (n={agree.n})"
    )

    golden = work / "golden.jsonl"
    golden.write_text(
        json.dumps(
            {"id": "reset", "input": "How do I reset my password?", "expected_output": "Use Settings."}
        )
        + "\n"
    )
    before = golden.read_text()
    result = refresh_candidates(store, golden, redact=redact)
    assert golden.read_text() == before  # the golden file is untouched until applied
    text = result.output.read_text()
    assert "ann@example.com" not in text
    print(f"4. refresh: {result.candidates} candidates ({result.merged} merged) in {result.output.name}")
    added = apply_candidates(result.output, golden)
    print(f"   applied {added} reviewed case(s) with an expected output")

    shutil.copytree(HERE / "prompts", work / "prompts")
    suite_file = work / "bot.suite.yaml"
    suite_file.write_text(SUITE)
    sample = traffic_cases(store, parse_window("7d"), 200, redact=redact)
    dataset = work / "traffic.jsonl"
    dataset.write_text("".join(json.dumps(case) + "\n" for case in sample))
    suite = evals.load_suite(suite_file, datasets=[str(dataset)])
    run = evals.run_suite(suite, cache=False, write_record=False)
    print(
        f"5. eval over traffic: {len(sample)} inputs, eval_score {run.eval_score:.2f}, gate {'passed' if run.passed else 'failed'}"
    )
    guard.close()


if __name__ == "__main__":
    main()
