"""Guarded canary rollouts, offline: a worse prompt rolls back on its own, a model change ramps to 100%.

Real calls go through `llmguard.OpenAI` against a fake provider. The ledger and a rule judge write
to the shared SQLite database; the rollout reads both arms from there (`SQLMetrics`), tests them
with a sequential test at the plan's false-alarm rate, and moves the ``production`` label:

1. ``support-bot`` 1.1.0 gives shorter answers that the judge scores ~30% lower: the rollout rolls
   back to 1.0.0 at its first step and raises an alert;
2. ``llmguard rollout start --model``'s Python twin rolls 1.0.0 out on another pinned model:
   the answers are as good, and it reaches 100%.
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

import llmguard
from llmguard.cost import Alert
from llmguard.judging import FunctionJudge, JudgeInput, Sampling, SQLiteSink
from llmguard.rollouts import Rollouts, SQLMetrics, load_plan
from llmguard.testing import FakeOpenAI, FakeRequest

PLAN = """\
# prompts/support-bot/rollout.yaml: reviewed with the prompt
label: production
false_alarm_rate: 0.05
min_samples: 40
steps:
  - {weight: 10, duration: 0s}   # demo: advance as soon as each arm has min_samples
  - {weight: 50, duration: 0s}
  - {weight: 100}
guards:
  judge_score: {max_regression: 0.05}
  error_rate: {max_increase: 0.02}
  latency_p95: {max_regression: 2.0}
"""

rng = random.Random(7)


def write_prompts(root: Path) -> None:
    folder = root / "support-bot"
    folder.mkdir(parents=True)
    for version, style in (("1.0.0", "thorough"), ("1.1.0", "terse")):
        (folder / f"v{version}.yaml").write_text(
            f'version: "{version}"\nmodel: "gpt-4o-mini-2024-07-18"\nsystem_prompt: "Be {style}."\n',
            encoding="utf-8",
        )
    (folder / "labels.yaml").write_text("production: 1.0.0\n", encoding="utf-8")
    (folder / "rollout.yaml").write_text(PLAN, encoding="utf-8")


def reply(request: FakeRequest) -> str:
    words = rng.randint(4, 8) if "terse" in str(request.body) else rng.randint(8, 12)
    return " ".join(["Reset it under Settings, Security."] + ["Details follow."] * words)


def quality(item: JudgeInput) -> float:
    """A rule judge: longer, more complete answers score higher (0-1)."""
    return min(1.0, len(item.output) / 200)


def traffic(guard: llmguard.Guard, client: llmguard.OpenAI, calls: int, start: int) -> None:
    for user in range(start, start + calls):
        prompt = guard.prompts.get("support-bot", label="production", key=f"user-{user}")
        rendered = prompt.render().with_user("How do I reset my password?")
        client.chat.completions.create(**rendered.openai_chat())
    guard.flush(timeout=10)


def run(rollouts: Rollouts, guard: llmguard.Guard, client: llmguard.OpenAI) -> None:
    user = 0
    for _ in range(40):
        traffic(guard, client, 150, user)
        user += 150
        result = rollouts.check("support-bot")
        state = result.state
        assert state is not None
        print(f"  check: {result.action:8} -> {state.weight:3}% candidate ({state.status})")
        if not state.active:
            return


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root, db = Path(tmp) / "prompts", Path(tmp) / "llmguard.db"
        write_prompts(root)
        guard = llmguard.Guard(
            prompts=root, db_path=db, ledger=True, pin_policy="enforce",
            judges=[FunctionJudge(quality, name="quality")], sampling=Sampling(rate=1.0),
            judgment_sink=SQLiteSink(db),
        )  # fmt: skip
        alerts: list[Alert] = []
        rollouts = Rollouts(guard.prompts, metrics=SQLMetrics(f"sqlite:///{db}"), alerts=[alerts.append])
        plan = load_plan(root / "support-bot" / "rollout.yaml")
        with FakeOpenAI(reply=reply).client(llmguard.OpenAI, guard=guard) as client:
            print("1) prompt 1.0.0 -> 1.1.0 (terser answers)")
            rollouts.start(
                "support-bot", plan.with_candidate("1.1.0"), force=True, reason="demo: no eval run"
            )
            run(rollouts, guard, client)
            print(f"   alert: {alerts[0].message}")
            decision = rollouts.registry.history("support-bot", "production")[-1].evidence["rollout"]
            failed = next(m for m in decision["metrics"] if m["status"] == "regression")
            print(
                f"   {failed['metric']}: stable {failed['stable_value']:.3f} vs candidate "
                f"{failed['candidate_value']:.3f} (n={failed['stable_n']}/{failed['candidate_n']}, "
                f"always-valid p={failed['p_value']:.2g}, per-test alpha={decision['alpha_each']:.4f})"
            )
            print("2) 1.0.0 on gpt-4.1-mini-2025-04-14 (a model change only)")
            state = rollouts.start(
                "support-bot", plan, model="gpt-4.1-mini-2025-04-14", force=True, reason="demo"
            )
            print(
                f"   candidate {state.candidate}: {rollouts.registry.get('support-bot', state.candidate).model}"
            )
            run(rollouts, guard, client)
        print(f"production -> {rollouts.registry.labels('support-bot')['production']}")
        for event in rollouts.events("support-bot"):
            print(
                f"  audit: {event.action:8} step {event.from_step}->{event.to_step} by {event.who}: {event.why}"
            )
        guard.close()


if __name__ == "__main__":
    main()
