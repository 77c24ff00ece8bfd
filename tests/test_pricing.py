"""Cost: equal to genai-prices' own calculation, overrides win, unknown models have no cost."""

from __future__ import annotations

import logging
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import genai_prices
import pytest
from anthropic.types import Message
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.types.chat import ChatCompletion

import llmguard
from llmguard._extract import Accumulator
from llmguard._pricing import Price, PriceTable, build_pricer, parse_prices, to_genai_usage
from llmguard._record import Usage
from llmguard.exceptions import ConfigurationError

MODELS = [
    ("openai", "gpt-4o-2024-08-06"),  # flat, cache read priced, cache write billed as input
    ("openai", "gpt-4o-mini-2024-07-18"),
    ("openai", "gpt-5.4"),  # tiered
    ("openai", "o3-mini"),
    ("anthropic", "claude-sonnet-4-5-20250929"),  # tiered, cache read and write priced
    ("anthropic", "claude-sonnet-4-6"),  # dated (conditional) prices
    ("anthropic", "claude-3-5-haiku-20241022"),
    ("azure.ai.openai", "gpt-4o"),
    ("deepseek", "deepseek-chat"),  # time-of-day prices
]

TABLE = PriceTable()


@st.composite
def usages(draw: st.DrawFn) -> Usage:
    read = draw(st.integers(0, 300_000))
    write = draw(st.integers(0, 300_000))
    uncached = draw(st.integers(0, 300_000))
    reasoning = draw(st.integers(0, 50_000))
    visible = draw(st.integers(0, 50_000))
    return Usage(
        input_tokens=uncached + read + write,
        output_tokens=visible + reasoning,
        cache_read_tokens=draw(st.sampled_from([read, None])) if read == 0 else read,
        cache_write_tokens=write,
        reasoning_tokens=reasoning,
    )


def reference(provider: str, model: str, usage: Usage) -> Decimal:
    provider_id = {"azure.ai.openai": "azure"}.get(provider, provider)
    calc = genai_prices.calc_price(to_genai_usage(usage, genai_prices.Usage), model, provider_id=provider_id)
    return calc.total_price


@pytest.mark.parametrize(("provider", "model"), MODELS)
@settings(max_examples=60, deadline=None)
@given(usage=usages())
def test_cost_equals_calc_price(provider: str, model: str, usage: Usage) -> None:
    cost = TABLE(provider, model, usage)
    assert cost is not None
    assert cost.total == reference(provider, model, usage)
    assert cost.total == cost.input + cost.output
    assert cost.source == "genai-prices"
    assert cost.data_version == f"genai-prices {genai_prices.__version__}"


def _anthropic_message(model: str, uncached: int, read: int, write: int, output: int) -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": "hi"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": uncached,
            "output_tokens": output,
            "cache_read_input_tokens": read,
            "cache_creation_input_tokens": write,
        },
    }


def _openai_completion(model: str, prompt: int, cached: int, output: int, reasoning: int) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": output,
            "total_tokens": prompt + output,
            "prompt_tokens_details": {"cached_tokens": cached},
            "completion_tokens_details": {"reasoning_tokens": reasoning},
        },
    }


def _usage_of(api: str, response: Any) -> Usage:
    acc = Accumulator(api)
    acc.final(response)
    return Usage(
        input_tokens=acc.input_tokens,
        output_tokens=acc.output_tokens,
        cache_read_tokens=acc.cache_read,
        cache_write_tokens=acc.cache_write,
        reasoning_tokens=acc.reasoning,
    )


counts = st.integers(0, 250_000)


@pytest.mark.parametrize(
    "model", ["claude-sonnet-4-5-20250929", "claude-sonnet-4-6", "claude-3-5-haiku-20241022"]
)
@settings(max_examples=60, deadline=None)
@given(uncached=counts, read=counts, write=counts, output=st.integers(0, 50_000))
def test_anthropic_cache_exclusive_input_is_not_double_counted(
    model: str, uncached: int, read: int, write: int, output: int
) -> None:
    raw = _anthropic_message(model, uncached, read, write, output)
    usage = _usage_of("messages", Message.model_validate(raw))
    assert usage.input_tokens == uncached + read + write
    cost = TABLE("anthropic", model, usage)
    assert cost is not None
    assert cost.total == genai_prices.extract_usage(raw, provider_id="anthropic").calc_price().total_price


@pytest.mark.parametrize("model", ["gpt-4o-2024-08-06", "gpt-5.4", "o3-mini"])
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_openai_cached_and_reasoning_tokens(model: str, data: st.DataObject) -> None:
    prompt = data.draw(counts)
    cached = data.draw(st.integers(0, prompt))
    output = data.draw(st.integers(0, 50_000))
    reasoning = data.draw(st.integers(0, output))
    raw = _openai_completion(model, prompt, cached, output, reasoning)
    usage = _usage_of("chat.completions", ChatCompletion.model_validate(raw))
    cost = TABLE("openai", model, usage)
    assert cost is not None
    expected = (
        genai_prices.extract_usage(raw, provider_id="openai", api_flavor="chat").calc_price().total_price
    )
    assert cost.total == expected


def test_cache_breakdown() -> None:
    table = PriceTable({"m": Price(input=3, output=15, cache_read="0.3", cache_write=3.75)})
    cost = table(
        "openai",
        "m",
        Usage(input_tokens=1_000_000, output_tokens=0, cache_read_tokens=200_000, cache_write_tokens=100_000),
    )
    assert cost is not None
    assert cost.cache_read == Decimal("0.06")
    assert cost.cache_write == Decimal("0.375")
    assert cost.input == Decimal("2.1") + Decimal("0.06") + Decimal("0.375")
    assert cost.source == "override"
    assert cost.data_version is None


def test_reasoning_price_and_defaults() -> None:
    usage = Usage(input_tokens=100, output_tokens=50, cache_read_tokens=40, reasoning_tokens=20)
    plain = PriceTable({"m": {"input": 1, "output": 2}})("p", "m", usage)
    assert plain is not None
    assert plain.total == Decimal(100 * 1 + 50 * 2) / 1_000_000  # cache and reasoning at the parent price
    split = PriceTable({"m": {"input": 1, "output": 2, "reasoning": 4, "cache_read": "0.5"}})("p", "m", usage)
    assert split is not None
    assert split.total == Decimal(60 * 1 + 40 * 0.5 + 30 * 2 + 20 * 4) / 1_000_000


def test_override_wins_over_bundled_and_matches_dated_snapshots() -> None:
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    table = PriceTable(parse_prices({"gpt-4o": {"input": "2.30", "output": 9}}))
    cost = table("openai", "gpt-4o-2024-08-06", usage)
    assert cost is not None
    assert cost.total == Decimal("11.30")
    assert cost.source == "override"
    bundled = TABLE("openai", "gpt-4o-2024-08-06", usage)
    assert bundled is not None
    assert bundled.total != cost.total


def test_unknown_model_is_none_and_warned_once(caplog: pytest.LogCaptureFixture) -> None:
    table = PriceTable()
    usage = Usage(input_tokens=1, output_tokens=1)
    with caplog.at_level(logging.WARNING, logger="llmguard"):
        assert table("openai", "my-finetune-xyz", usage) is None
        assert table("openai", "my-finetune-xyz", usage) is None
        assert PriceTable()("openai", "my-finetune-xyz", usage) is None
    warnings = [r for r in caplog.records if "my-finetune-xyz" in r.getMessage()]
    assert len(warnings) == 1
    assert table("openai", None, usage) is None


def test_unknown_provider_matches_by_model_name() -> None:
    cost = TABLE("some-gateway", "gpt-4o-2024-08-06", Usage(input_tokens=10, output_tokens=10))
    assert cost is not None


def test_inconsistent_usage_is_unpriced() -> None:
    assert (
        TABLE("openai", "gpt-4o-2024-08-06", Usage(input_tokens=1, output_tokens=1, cache_read_tokens=5))
        is None
    )


@pytest.mark.parametrize(
    "table",
    [
        {"m": {"input": 1}},
        {"m": {"input": 1, "output": 2, "cached": 1}},
        {"m": {"input": -1, "output": 2}},
        {"m": {"input": True, "output": 2}},
        {"m": {"input": "abc", "output": 2}},
        {"m": 3},
        ["m"],
    ],
)
def test_invalid_overrides(table: Any) -> None:
    with pytest.raises(ConfigurationError):
        parse_prices(table)


def test_overrides_from_config_file_and_code(tmp_path: Path) -> None:
    (tmp_path / "llmguard.toml").write_text(
        '[prices]\n"file-model" = { input = 1.0, output = 2.0, cache_read = 0.1 }\n'
        '"both" = { input = 5, output = 5 }\n'
    )
    guard = llmguard.Guard(prices={"both": llmguard_price(1, 1)})
    pricer = build_pricer(guard)
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000, cache_read_tokens=500_000)
    from_file = pricer("openai", "file-model", usage)
    assert from_file is not None
    assert from_file.total == Decimal("0.5") + Decimal("0.05") + Decimal(2)
    from_code = pricer("openai", "both", usage)
    assert from_code is not None
    assert from_code.total == Decimal(2)


def llmguard_price(inp: float, out: float) -> Price:
    return Price(input=inp, output=out)


def test_a_price_table_can_be_given_directly() -> None:
    table = PriceTable({"x": Price(1, 1)}, bundled=False)
    assert build_pricer(llmguard.Guard(prices=table)) is table
    assert table("openai", "gpt-4o-2024-08-06", Usage(input_tokens=1, output_tokens=1)) is None


def test_import_llmguard_does_not_import_genai_prices() -> None:
    code = "import sys, llmguard, llmguard.telemetry; assert 'genai_prices' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
