"""The LLM judge: a rubric, a pinned judge model, and output forced to ``{"score", "reason"}``.

The judge calls its model through a guarded client (``llmguard.OpenAI``/``Anthropic`` built with
the same guard, or one you pass) inside `llmguard.judge_calls`, so the pin policy applies to
the judge model and its calls are recorded as ``kind="judge"``: never judged, never app spend.
OpenAI output is forced with structured output (``response_format`` JSON schema), Anthropic output
with a forced tool call. Transient provider errors (connection, timeout, 408/409/429/5xx) are
retried with tenacity; anything else (a refused alias, a bad request) fails at once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmguard._context import judge_calls

from ._types import JudgeInput, JudgeResult, Scale, fingerprint_of

if TYPE_CHECKING:
    from llmguard._guard import Guard

__all__ = ["DEFAULT_SYSTEM", "LLMJudge", "is_transient"]

DEFAULT_SYSTEM = (
    "You are an impartial evaluator. Score the RESPONSE against the RUBRIC with an integer from {lo} "
    "(worst) to {hi} (best). Answer only with the required JSON object: a score and a one- or two-sentence reason."
)
"""The judge's system prompt (``{lo}`` and ``{hi}`` are the scale's ends)."""

_TOOL = "record_judgment"


def is_transient(exc: BaseException) -> bool:
    """Whether a provider error is worth retrying: connection errors, timeouts, 408/409/429 and 5xx."""
    if any(cls.__name__ == "APIConnectionError" for cls in type(exc).__mro__):
        return True
    status = getattr(exc, "status_code", None)
    return isinstance(status, int) and (status in (408, 409, 429) or status >= 500)


@dataclass(eq=False)
class LLMJudge:
    """Score outputs with an LLM against a rubric, on ``scale`` (default 1..5).

    Args:
        rubric: What a good response is (the criteria the judge applies).
        model: The judge model: a pinned snapshot (an alias is refused under ``enforce``).
        client: A sync client (``llmguard.OpenAI``/``Anthropic``); default ``llmguard.OpenAI(guard=guard)``.
        async_client: The async client used by ``aevaluate``; default built like ``client``.
        guard: The guard the default clients are built with.
        provider: ``openai`` or ``anthropic`` (default: guessed from the client, else ``openai``).
        reference: A reference answer used when the input carries none.
        pass_score: Scores at or above it pass.
        temperature: Sampling temperature (OpenAI only: the Anthropic 2.x API takes none).
        timeout: Seconds per request.
        retries: Retries of transient errors.
        backoff: Initial retry wait in seconds (exponential with jitter).
    """

    rubric: str
    model: str
    client: Any = None
    async_client: Any = None
    guard: Guard | None = None
    provider: str | None = None
    reference: str | None = None
    name: str = "llm_judge"
    scale: Scale = (1.0, 5.0)
    pass_score: float = 4.0
    temperature: float = 0.0
    max_tokens: int = 512
    timeout: float = 30.0
    retries: int = 2
    backoff: float = 0.5
    system: str = DEFAULT_SYSTEM
    _params: dict[str, Any] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._params = {
            "scale": list(self.scale),
            "pass_score": self.pass_score,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "system": self.system,
        }

    @property
    def fingerprint(self) -> str:
        """``<name>:<model>:<rubric hash>:<params hash>``: stored with every score."""
        rubric = hashlib.sha256(self.rubric.encode()).hexdigest()[:12]
        params = fingerprint_of("p", **self._params).split(":", 1)[1][:8]
        return f"{self.name}:{self.model}:{rubric}:{params}"

    # -- requests ---------------------------------------------------------------------------------
    def _is_anthropic(self, client: Any) -> bool:
        if self.provider is not None:
            return self.provider == "anthropic"
        return client is not None and hasattr(client, "messages") and not hasattr(client, "chat")

    def _schema(self) -> dict[str, Any]:
        lo, hi = int(self.scale[0]), int(self.scale[1])
        return {
            "type": "object",
            "properties": {
                "score": {"type": "integer", "enum": list(range(lo, hi + 1))},
                "reason": {"type": "string"},
            },
            "required": ["score", "reason"],
            "additionalProperties": False,
        }

    def _prompt(self, item: JudgeInput) -> tuple[str, str]:
        system = self.system.format(lo=int(self.scale[0]), hi=int(self.scale[1]))
        parts = [f"RUBRIC:\n{self.rubric}", f"INPUT:\n{item.input_text or '(none)'}"]
        reference = item.reference if item.reference is not None else self.reference
        if reference is not None:
            parts.append(f"REFERENCE ANSWER:\n{reference}")
        parts.append(f"RESPONSE:\n{item.output}")
        return system, "\n\n".join(parts)

    def _request(self, item: JudgeInput, anthropic: bool) -> dict[str, Any]:
        system, user = self._prompt(item)
        common = {"model": self.model, "timeout": self.timeout}
        if anthropic:
            tool = {
                "name": _TOOL,
                "description": "Record the score and reason.",
                "input_schema": self._schema(),
            }
            return {
                **common,
                "max_tokens": self.max_tokens,
                "system": system,
                "messages": [{"role": "user", "content": user}],
                "tools": [tool],
                "tool_choice": {"type": "tool", "name": _TOOL},
            }
        schema = {"name": "judgment", "strict": True, "schema": self._schema()}
        return {
            **common,
            "temperature": self.temperature,
            "max_completion_tokens": self.max_tokens,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
            "response_format": {"type": "json_schema", "json_schema": schema},
        }

    # -- responses --------------------------------------------------------------------------------
    def _parse(self, response: Any) -> JudgeResult:
        data = _payload(response)
        score, reason = data.get("score"), data.get("reason")
        lo, hi = self.scale
        if isinstance(score, bool) or not isinstance(score, int | float) or not lo <= score <= hi:
            raise ValueError(f"judge {self.name!r}: score {score!r} is not on the scale {lo}..{hi}")
        threshold = (self.pass_score - lo) / (hi - lo)
        text = reason if isinstance(reason, str) else None
        return JudgeResult.of(
            self.name, score, scale=self.scale, threshold=threshold, reason=text, fingerprint=self.fingerprint
        )

    # -- sync and async shells --------------------------------------------------------------------
    def _retrying(self) -> dict[str, Any]:
        # tenacity (which imports tornado when installed: about 2 MiB) loads with the first LLM judgment
        from tenacity import retry_if_exception, stop_after_attempt, wait_exponential, wait_random

        return {
            "stop": stop_after_attempt(self.retries + 1),
            "wait": wait_exponential(multiplier=self.backoff, max=max(self.backoff, 8.0))
            + wait_random(0, self.backoff),
            "retry": retry_if_exception(is_transient),
            "reraise": True,
        }

    def evaluate(self, item: JudgeInput) -> JudgeResult:
        """Ask the judge model (retrying transient errors); raises on refusal or a malformed reply."""
        client = self.client = self.client or _default_client(self.guard, self.provider, asynchronous=False)
        anthropic = self._is_anthropic(client)
        request = self._request(item, anthropic)
        create = client.messages.create if anthropic else client.chat.completions.create
        with judge_calls():
            from tenacity import Retrying

            for attempt in Retrying(**self._retrying()):
                with attempt:
                    response = create(**request)
        return self._parse(response)

    async def aevaluate(self, item: JudgeInput) -> JudgeResult:
        """Ask the judge model from async code (uses ``async_client``)."""
        client = self.async_client = self.async_client or _default_client(
            self.guard, self.provider, asynchronous=True
        )
        anthropic = self._is_anthropic(client)
        request = self._request(item, anthropic)
        create = client.messages.create if anthropic else client.chat.completions.create
        with judge_calls():
            from tenacity import AsyncRetrying

            async for attempt in AsyncRetrying(**self._retrying()):
                with attempt:
                    response = await create(**request)
        return self._parse(response)


def _payload(response: Any) -> Mapping[str, Any]:
    content = getattr(response, "content", None)
    if isinstance(content, list):  # Anthropic: the forced tool call, else a JSON text block
        for block in content:
            if getattr(block, "type", None) == "tool_use" and isinstance(block.input, Mapping):
                return block.input
        text = "".join(getattr(block, "text", "") for block in content)
    else:
        text = response.choices[0].message.content or ""
    data = json.loads(text)
    if not isinstance(data, Mapping):
        raise ValueError(f"judge reply is not a JSON object: {text[:80]!r}")
    return data


def _default_client(guard: Guard | None, provider: str | None, *, asynchronous: bool) -> Any:
    import llmguard

    if provider == "anthropic":
        cls: Any = llmguard.AsyncAnthropic if asynchronous else llmguard.Anthropic
    else:
        cls = llmguard.AsyncOpenAI if asynchronous else llmguard.OpenAI
    return cls(guard=guard, max_retries=0)
