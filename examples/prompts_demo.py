"""Prompts as code, offline: load the seed prompt, render it, promote, canary and roll back.

Runs with no network: a temporary copy of ``examples/prompts`` and llmguard's fake OpenAI.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import llmguard
from llmguard import CallRecorder, Guard
from llmguard.exceptions import LabelConflictError, PromotionRefusedError, UnpinnedModelError
from llmguard.testing import FakeOpenAI

HERE = Path(__file__).parent


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "prompts"
        shutil.copytree(HERE / "prompts", root)
        (root / "support-bot" / "v2.2.0.yaml").write_text(
            'version: "2.2.0"\nmodel: "gpt-4o-2024-08-06"\n'
            'system_prompt: "You are Acme\'s support agent. Be brief, {{ customer }}."\n'
            "variables:\n  customer: {type: string}\n"
        )
        recorder = CallRecorder()
        guard = Guard(prompts=root, observers=[recorder], pin_policy="warn")
        prompts = guard.prompts

        try:  # `production` is protected: moving it needs eval evidence (or force=True with a reason)
            prompts.promote("support-bot", "2.1.0", label="production", expect=None, reason="launch")
        except PromotionRefusedError as exc:
            print("production is protected:", exc)
        evidence = {"eval_score": 0.91, "run_id": "r-42"}  # what `llmguard eval run` recorded
        prompts.promote(
            "support-bot", "2.1.0", label="production", expect=None, reason="launch", evidence=evidence
        )
        prompts.promote(
            "support-bot",
            {"2.1.0": 90, "2.2.0": 10},
            label="production",
            expect="2.1.0",
            reason="canary",
            evidence=evidence,
        )
        try:
            prompts.promote("support-bot", "2.2.0", label="production", expect="2.1.0", evidence=evidence)
        except LabelConflictError as exc:
            print("compare-and-set refused a stale move:", exc)

        fake = FakeOpenAI(reply="Happy to help.")
        with fake.client(llmguard.OpenAI, guard=guard) as client:
            for user in (f"user-{n}" for n in range(12)):
                prompt = prompts.get("support-bot", label="production", key=user)
                values = {"customer": user} if prompt.variables else {}
                rendered = prompt.render(**values).with_user("How do I reset my password?")
                client.chat.completions.create(**rendered.openai_chat())
                assert recorder.last is not None
                assert recorder.last.prompt is not None
                print(f"{user}: served {recorder.last.prompt.name}@{recorder.last.prompt.version}")

        back = prompts.rollback("support-bot", label="production", reason="canary regressed")
        print(f"rolled back production: {back.from_} -> {back.to}")
        for move in prompts.history("support-bot"):
            print(f"  {move.action:8} {move.from_ or '-':>20} -> {move.to:<20} {move.why}")

        strict = Guard(prompts=root, pin_policy="enforce")
        seed = strict.prompts.get("support-bot", "2.1.0").render().with_user("hi")
        with fake.client(llmguard.OpenAI, guard=strict) as client:
            try:
                client.chat.completions.create(**seed.openai_chat())
            except UnpinnedModelError as exc:
                print("enforce refuses the seed's alias model:", exc.model)


if __name__ == "__main__":
    main()
