"""The judges as a library: rule judges, plain callables, the registry, the LLM and embedding judges."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

import llmguard
from llmguard import CallRecorder, ConfigurationError, UnpinnedModelError
from llmguard.judging import (
    ContainsKeywords,
    EmbeddingSimilarity,
    FunctionJudge,
    JsonValid,
    Judge,
    JudgeInput,
    JudgeResult,
    LLMJudge,
    MinLength,
    NoRefusal,
    Regex,
    cosine,
    is_transient,
    register_judge,
    registered_judges,
    resolve_judge,
    resolve_judges,
)
from llmguard.testing import FakeAnthropic, FakeOpenAI, FakeRequest

MODEL = "gpt-4o-mini-2024-07-18"


def verdict(reply: str) -> str:
    return json.dumps({"score": 4, "reason": f"judged: {reply}"})


def judge_reply(request: FakeRequest) -> str:
    return verdict("ok") if "response_format" in request.body or "tools" in request.body else "app answer"


@pytest.fixture
def recorder() -> CallRecorder:
    return CallRecorder()


@pytest.fixture
def guard(recorder: CallRecorder) -> Iterator[llmguard.Guard]:
    g = llmguard.Guard(pin_policy="enforce", observers=[recorder])
    yield g
    g.close()


def item(output: str, **kwargs: Any) -> JudgeInput:
    return JudgeInput(output=output, input={"messages": [{"role": "user", "content": "q?"}]}, **kwargs)


# -- rule judges ----------------------------------------------------------------------------------


def test_exported_members() -> None:
    import llmguard.judging

    assert len(set(llmguard.judging.__all__)) == len(llmguard.judging.__all__)
    assert {"Judge", "JudgeInput", "JudgeResult", "LLMJudge", "Sampling", "JudgmentSink"} <= set(
        llmguard.judging.__all__
    )
    assert all(hasattr(llmguard.judging, name) for name in llmguard.judging.__all__)


def test_builtin_names_are_registered() -> None:
    expected = {
        "contains_keywords",
        "min_length",
        "no_refusal",
        "json_valid",
        "regex",
        "embedding_similarity",
        "llm_judge",
    }
    assert expected <= set(registered_judges())


@pytest.mark.parametrize(
    ("judge", "output", "passed"),
    [
        (ContainsKeywords(required=["Paris"]), "It is paris.", True),
        (ContainsKeywords(required=["Paris"], case_sensitive=True), "It is paris.", False),
        (ContainsKeywords(forbidden=["password"]), "the PASSWORD is x", False),
        (MinLength(min_chars=5), "   hi   ", False),
        (MinLength(min_chars=2, min_words=2), "two words", True),
        (NoRefusal(), "I'm sorry, but I can't help with that.", False),
        (NoRefusal(phrases=["nope"]), "I'm sorry, but I can't help with that.", True),
        (JsonValid(), '```json\n{"a": 1}\n```', True),
        (JsonValid(), "{not json", False),
        (JsonValid(schema={"type": "object", "required": ["a"]}), '{"b": 1}', False),
        (JsonValid(schema={"type": "object", "required": ["a"]}), '{"a": 1}', True),
        (Regex(pattern=r"\d{4}"), "year 2024", True),
        (Regex(pattern=r"\d{4}", must_match=False), "year 2024", False),
    ],
)
def test_rule_judges(judge: Judge, output: str, passed: bool) -> None:
    result = judge.evaluate(item(output))
    assert result.passed is passed
    assert result.score == (1.0 if passed else 0.0)
    assert result.scale == (0.0, 1.0)
    assert result.normalized == result.score
    assert result.label == ("pass" if passed else "fail")
    assert result.fingerprint
    assert result.fingerprint.startswith(judge.name)
    assert result.reason


def test_fingerprint_changes_with_parameters() -> None:
    assert MinLength(min_chars=5).fingerprint != MinLength(min_chars=6).fingerprint
    assert MinLength(min_chars=5).fingerprint == MinLength(min_chars=5).fingerprint


@pytest.mark.anyio
async def test_rule_judges_are_async_too() -> None:
    result = await NoRefusal().aevaluate(item("Sure, here it is."))
    assert result.passed


def test_result_normalization() -> None:
    result = JudgeResult.of("x", 4, scale=(1, 5), threshold=0.75)
    assert result.normalized == 0.75
    assert result.passed
    assert JudgeResult(name="x", score=1, scale=(1, 1)).normalized == 0.0


# -- plain callables and the registry -------------------------------------------------------------


def short_enough(item: JudgeInput) -> bool:
    return len(item.output) < 10


async def async_score(item: JudgeInput) -> float:
    return 0.25


def test_plain_callables() -> None:
    judge = resolve_judge(short_enough)
    assert judge.name == "short_enough"
    assert judge.evaluate(item("short")).passed is True
    assert resolve_judge(lambda i: 0.7).evaluate(item("x")).score == 0.7
    assert FunctionJudge(async_score).evaluate(item("x")).score == 0.25
    with pytest.raises(TypeError, match="expected JudgeResult"):
        resolve_judge(lambda i: "text").evaluate(item("x"))


@pytest.mark.anyio
async def test_plain_callables_async() -> None:
    assert (await FunctionJudge(async_score).aevaluate(item("x"))).score == 0.25
    assert (await FunctionJudge(short_enough).aevaluate(item("x"))).score == 1.0


def test_registry_specs() -> None:
    assert isinstance(resolve_judge("no_refusal"), NoRefusal)
    judge = resolve_judge(("min_length", {"min_chars": 3}))
    assert isinstance(judge, MinLength)
    assert judge.min_chars == 3
    assert isinstance(resolve_judge({"name": "regex", "pattern": "a+"}), Regex)
    assert resolve_judge(f"{__name__}:short_enough").name == "short_enough"
    assert isinstance(resolve_judge("llmguard.judging:MinLength", min_chars=2), MinLength)
    assert len(resolve_judges(["no_refusal", ("min_length", {"min_chars": 2})])) == 2
    assert len(resolve_judges(("min_length", {"min_chars": 2}))) == 1
    assert resolve_judges(None) == []
    register_judge("custom_len", MinLength)
    assert isinstance(resolve_judge("custom_len"), MinLength)


@pytest.mark.parametrize(
    "spec",
    ["nope", "no.such.module:thing", {"pattern": "x"}, ("min_length", {"bogus": 1})],
)
def test_registry_errors(spec: Any) -> None:
    with pytest.raises(ConfigurationError):
        resolve_judge(spec)


def test_not_a_judge() -> None:
    with pytest.raises(ConfigurationError, match="not a judge"):
        resolve_judge(42)


# -- the LLM judge --------------------------------------------------------------------------------


def test_llm_judge_openai_structured_output(guard: llmguard.Guard, recorder: CallRecorder) -> None:
    fake = FakeOpenAI(reply=judge_reply)
    judge = LLMJudge(rubric="Is it correct?", model=MODEL, client=fake.client(llmguard.OpenAI, guard=guard))
    result = judge.evaluate(item("Paris", reference="Paris"))
    assert (result.score, result.scale, result.normalized, result.passed) == (4.0, (1.0, 5.0), 0.75, True)
    assert result.reason == "judged: ok"
    assert result.fingerprint == judge.fingerprint
    assert result.fingerprint.startswith(f"llm_judge:{MODEL}:")
    body = fake.calls[0].body
    assert body["response_format"]["type"] == "json_schema"
    schema = body["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["score"]["enum"] == [1, 2, 3, 4, 5]
    assert "REFERENCE ANSWER:\nParis" in body["messages"][1]["content"]
    assert "Is it correct?" in body["messages"][1]["content"]
    assert [r.kind for r in recorder.records] == ["judge"]


def test_llm_judge_fingerprint_tracks_model_rubric_and_params() -> None:
    base = LLMJudge(rubric="a", model=MODEL)
    assert base.fingerprint == LLMJudge(rubric="a", model=MODEL).fingerprint
    assert base.fingerprint != LLMJudge(rubric="b", model=MODEL).fingerprint
    assert base.fingerprint != LLMJudge(rubric="a", model="gpt-4o-2024-08-06").fingerprint
    assert base.fingerprint != LLMJudge(rubric="a", model=MODEL, temperature=0.5).fingerprint


def test_llm_judge_alias_refused_under_enforce(guard: llmguard.Guard) -> None:
    fake = FakeOpenAI(reply=judge_reply)
    judge = LLMJudge(rubric="r", model="gpt-4o-mini", client=fake.client(llmguard.OpenAI, guard=guard))
    with pytest.raises(UnpinnedModelError, match="gpt-4o-mini-2024-07-18"):
        judge.evaluate(item("x"))
    assert fake.call_count == 0


def test_llm_judge_default_client_uses_the_guard(
    guard: llmguard.Guard, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    judge = LLMJudge(rubric="r", model="gpt-4o-mini", guard=guard)
    with pytest.raises(UnpinnedModelError):
        judge.evaluate(item("x"))
    assert isinstance(judge.client, llmguard.OpenAI)
    judge.client.close()


def test_llm_judge_retries_transient_errors_only(guard: llmguard.Guard) -> None:
    fake = FakeOpenAI(reply=judge_reply)
    client = fake.client(llmguard.OpenAI, guard=guard, max_retries=0)
    judge = LLMJudge(rubric="r", model=MODEL, client=client, backoff=0.001)
    fake.fail_next(500, times=2)
    assert judge.evaluate(item("x")).score == 4
    assert fake.call_count == 3
    fake.fail_next(400)
    with pytest.raises(openai.BadRequestError):
        judge.evaluate(item("x"))
    assert fake.call_count == 4


def test_llm_judge_rejects_off_scale_scores(guard: llmguard.Guard) -> None:
    fake = FakeOpenAI(reply=json.dumps({"score": 9, "reason": "?"}))
    judge = LLMJudge(rubric="r", model=MODEL, client=fake.client(llmguard.OpenAI, guard=guard))
    with pytest.raises(ValueError, match="not on the scale"):
        judge.evaluate(item("x"))


def test_llm_judge_anthropic_forced_tool(guard: llmguard.Guard) -> None:
    fake = FakeAnthropic(reply=judge_reply)
    client = fake.client(llmguard.Anthropic, guard=guard)
    judge = LLMJudge(rubric="r", model="claude-sonnet-4-6", client=client)
    assert judge.evaluate(item("x")).score == 4
    body = fake.calls[0].body
    assert body["tool_choice"] == {"type": "tool", "name": "record_judgment"}
    assert body["tools"][0]["input_schema"]["required"] == ["score", "reason"]


def test_llm_judge_reads_the_anthropic_tool_call() -> None:
    block = anthropic.types.ToolUseBlock(
        id="t", name="record_judgment", input={"score": 2, "reason": "meh"}, type="tool_use"
    )
    message = type("M", (), {"content": [block]})()
    result = LLMJudge(rubric="r", model="m")._parse(message)
    assert (result.score, result.passed) == (2, False)


@pytest.mark.anyio
async def test_llm_judge_async(guard: llmguard.Guard, recorder: CallRecorder) -> None:
    fake = FakeOpenAI(reply=judge_reply)
    async with fake.client(llmguard.AsyncOpenAI, guard=guard) as client:
        judge = LLMJudge(rubric="r", model=MODEL, async_client=client)
        assert (await judge.aevaluate(item("x"))).score == 4
    assert recorder.records[0].kind == "judge"


def test_is_transient() -> None:
    class Status(Exception):
        def __init__(self, code: int) -> None:
            self.status_code = code

    assert is_transient(Status(429))
    assert is_transient(Status(503))
    assert not is_transient(Status(400))
    assert not is_transient(ValueError())


# -- embeddings -----------------------------------------------------------------------------------


def test_embedding_similarity(guard: llmguard.Guard, recorder: CallRecorder) -> None:
    fake = FakeOpenAI()
    judge = EmbeddingSimilarity(client=fake.client(llmguard.OpenAI, guard=guard), threshold=0.99)
    same = judge.evaluate(item("The capital is Paris.", reference="The capital is Paris."))
    assert same.score == pytest.approx(1.0)
    assert same.passed
    different = judge.evaluate(item("The capital is Paris.", reference="Bananas are yellow."))
    assert different.score < 0.99
    assert not different.passed
    assert fake.calls[0].path.endswith("/embeddings")
    assert {r.kind for r in recorder.records} == {"judge"}
    with pytest.raises(ValueError, match="reference"):
        judge.evaluate(item("x"))


@pytest.mark.anyio
async def test_embedding_similarity_async(guard: llmguard.Guard) -> None:
    fake = FakeOpenAI()
    async with fake.client(llmguard.AsyncOpenAI, guard=guard) as client:
        judge = EmbeddingSimilarity(reference="same", async_client=client)
        assert (await judge.aevaluate(item("same"))).passed


def test_cosine() -> None:
    assert cosine([1, 0], [0, 1]) == 0.0
    assert cosine([0, 0], [1, 1]) == 0.0
    assert cosine([1, 1], [2, 2]) == pytest.approx(1.0)
