"""Semantic equivalence to a reference answer through the provider's embeddings endpoint."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llmguard._context import judge_calls

from ._types import JudgeInput, JudgeResult, Scale, fingerprint_of

if TYPE_CHECKING:
    from llmguard._guard import Guard

__all__ = ["EmbeddingSimilarity", "cosine"]


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two vectors (0.0 when either is all zeros)."""
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


@dataclass(eq=False)
class EmbeddingSimilarity:
    """Cosine similarity between the output and a reference answer, clamped to (0, 1).

    Outputs are non-deterministic, so exact matching is too strict: this passes when the two
    texts mean nearly the same. The embeddings call runs through a guarded client inside
    `llmguard.judge_calls` (recorded as the judge's own call).

    Args:
        reference: The reference answer used when the input carries none.
        model: The embeddings model.
        threshold: Similarity at or above it passes.
        client: A sync OpenAI-compatible client; default ``llmguard.OpenAI(guard=guard)``.
        async_client: The async client used by ``aevaluate``.
        guard: The guard the default clients are built with.
    """

    reference: str | None = None
    model: str = "text-embedding-3-small"
    threshold: float = 0.8
    client: Any = None
    async_client: Any = None
    guard: Guard | None = None
    name: str = "embedding_similarity"
    scale: Scale = (0.0, 1.0)

    @property
    def fingerprint(self) -> str:
        """The model and threshold."""
        return fingerprint_of(self.name, model=self.model, threshold=self.threshold)

    def _texts(self, item: JudgeInput) -> list[str]:
        reference = item.reference if item.reference is not None else self.reference
        if reference is None:
            raise ValueError(f"judge {self.name!r} needs a reference answer")
        return [item.output, reference]

    def _result(self, response: Any) -> JudgeResult:
        first, second = (row.embedding for row in sorted(response.data, key=lambda row: row.index))
        similarity = max(0.0, min(1.0, cosine(first, second)))
        return JudgeResult.of(
            self.name,
            similarity,
            threshold=self.threshold,
            reason=f"cosine similarity {similarity:.3f}",
            fingerprint=self.fingerprint,
        )

    def evaluate(self, item: JudgeInput) -> JudgeResult:
        """Embed output and reference, and compare."""
        texts = self._texts(item)
        if self.client is None:
            import llmguard

            self.client = llmguard.OpenAI(guard=self.guard)
        with judge_calls():
            response = self.client.embeddings.create(model=self.model, input=texts)
        return self._result(response)

    async def aevaluate(self, item: JudgeInput) -> JudgeResult:
        """Embed and compare from async code."""
        texts = self._texts(item)
        if self.async_client is None:
            import llmguard

            self.async_client = llmguard.AsyncOpenAI(guard=self.guard)
        with judge_calls():
            response = await self.async_client.embeddings.create(model=self.model, input=texts)
        return self._result(response)
