"""The offline demo provider of eval suites (``provider: fake``): for demos and tests only.

App requests are answered from the golden dataset itself: the reference answer of the case whose
last user message matches, cut to a share ``quality`` of its words (``quality=1`` answers the
reference, lower values answer worse). Judge requests (the LLM judge's structured-output request,
or a forced tool call) get ``{"score", "reason"}`` computed from the word overlap between the
judged RESPONSE and the REFERENCE ANSWER found in the judge's own prompt, so the real
``llm_judge`` code path runs end to end.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Literal

from llmguard.judging._types import request_text
from llmguard.testing import FakeAnthropic, FakeOpenAI, FakeProvider, FakeRequest

__all__ = ["EvalFakeReplies", "demo_provider", "overlap", "overlap_score"]

FALLBACK = "I'm not sure about that; let me connect you with a human agent who can help."
"""What the fake answers to a message it has no reference for."""

_WORD = re.compile(r"[a-z0-9']+")
_SECTIONS = re.compile(r"REFERENCE ANSWER:\n(?P<ref>.*?)\n\nRESPONSE:\n(?P<out>.*)\Z", re.DOTALL)


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def overlap(answer: str, reference: str) -> float:
    """The share of the reference's distinct words that the answer contains (0..1)."""
    wanted = set(_words(reference))
    return len(wanted & set(_words(answer))) / len(wanted) if wanted else 0.0


def overlap_score(answer: str, reference: str, scale: tuple[int, int] = (1, 5)) -> int:
    """The overlap mapped onto an integer ``scale`` (1..5 by default)."""
    lo, hi = scale
    return lo + round((hi - lo) * overlap(answer, reference))


def degrade(reference: str, quality: float) -> str:
    """The first ``quality`` share of the reference's words (at least one), or the fallback at 0."""
    words = reference.split()
    keep = math.ceil(len(words) * quality)
    return " ".join(words[:keep]) if keep else FALLBACK


class EvalFakeReplies:
    """The reply function of the demo provider.

    Args:
        answers: Last user message -> reference answer.
        quality: Share of each reference's words the app answers keep.
    """

    def __init__(self, answers: Mapping[str, str], quality: float = 1.0) -> None:
        self.answers = dict(answers)
        self.quality = quality

    def __call__(self, request: FakeRequest) -> str:
        body = request.body
        if "response_format" in body or "tools" in body:
            return self._judge(request_text(body))
        messages = body.get("messages") or []
        last = messages[-1].get("content", "") if messages and isinstance(messages[-1], Mapping) else ""
        reference = self.answers.get(last if isinstance(last, str) else "")
        return FALLBACK if reference is None else degrade(reference, self.quality)

    @staticmethod
    def _judge(prompt: str) -> str:
        found = _SECTIONS.search(prompt)
        if found is None:
            return json.dumps({"score": 3, "reason": "No reference answer to compare with."})
        share = overlap(found["out"], found["ref"])
        score = overlap_score(found["out"], found["ref"])
        return json.dumps({"score": score, "reason": f"Covers {share:.0%} of the reference answer's words."})


def demo_provider(
    answers: Mapping[str, str],
    *,
    quality: float = 1.0,
    latency: float = 0.0,
    kind: Literal["openai", "anthropic"] = "openai",
) -> FakeProvider:
    """A fake OpenAI (or Anthropic) provider answering from references and judging by word overlap.

    Args:
        answers: Last user message -> reference answer.
        quality: Share of each reference's words the answers keep (1.0: perfect answers).
        latency: Seconds each request takes.
        kind: Which provider's HTTP API to fake.
    """
    replies = EvalFakeReplies(answers, quality)
    cls = FakeAnthropic if kind == "anthropic" else FakeOpenAI
    return cls(reply=replies, latency=latency)
