"""The genai-prices table read from the per-user cache file: the same prices, less memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import genai_prices
import pytest
from genai_prices.data_snapshot import get_snapshot
from hypothesis import given, settings

from llmguard import _price_snapshot
from llmguard._price_snapshot import CachedSnapshot
from llmguard._pricing import PriceTable, to_genai_usage
from llmguard._record import Usage
from test_pricing import usages

MODELS = [
    ("openai", "gpt-4o-2024-08-06"),
    ("openai", "gpt-4o-mini-2024-07-18"),
    ("openai", "gpt-5.4"),  # tiered
    ("openai", "o3-mini"),  # reasoning
    ("anthropic", "claude-sonnet-4-5-20250929"),  # tiered, cache read and write priced
    ("anthropic", "claude-sonnet-4-6"),  # dated prices
    ("anthropic", "claude-3-5-haiku-20241022"),
    ("azure.ai.openai", "gpt-4o"),  # a fallback provider (azure -> openai)
    ("deepseek", "deepseek-chat"),  # time-of-day prices
    ("someone", "claude-3-5-haiku-20241022"),  # matched by model name alone
]


@pytest.fixture(scope="module")
def cached(tmp_path_factory: pytest.TempPathFactory) -> CachedSnapshot:
    path = tmp_path_factory.mktemp("prices") / "genai-prices-test.pickle"
    _price_snapshot._write(path, _price_snapshot._serialise(get_snapshot().providers))
    return CachedSnapshot(path)


def _reference(provider: str, model: str, usage: Usage) -> Decimal:
    from llmguard._pricing import PROVIDER_IDS

    try:
        calc = genai_prices.calc_price(
            to_genai_usage(usage, genai_prices.Usage), model, provider_id=PROVIDER_IDS.get(provider)
        )
    except LookupError:
        calc = genai_prices.calc_price(to_genai_usage(usage, genai_prices.Usage), model)
    return calc.total_price


@pytest.mark.parametrize(("provider", "model"), MODELS)
@settings(max_examples=40, deadline=None)
@given(usage=usages())
def test_cached_table_prices_equal_calc_price(
    cached: CachedSnapshot, provider: str, model: str, usage: Usage
) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_price_snapshot, "current_snapshot", lambda: cached)
        cost = PriceTable()(provider, model, usage)
    assert cost is not None
    assert cost.total == _reference(provider, model, usage)
    assert cost.data_version == f"genai-prices {genai_prices.__version__}"


@pytest.mark.parametrize(("provider", "model"), MODELS)
def test_cached_lookup_finds_the_same_entry(cached: CachedSnapshot, provider: str, model: str) -> None:
    from llmguard._pricing import PROVIDER_IDS

    try:
        expected = get_snapshot().find_provider_model(model, None, PROVIDER_IDS.get(provider), None)
        found = cached.find_provider_model(model, None, PROVIDER_IDS.get(provider), None)
    except LookupError:
        expected = get_snapshot().find_provider_model(model, None, None, None)
        found = cached.find_provider_model(model, None, None, None)
    assert (found[0].id, found[1].id) == (expected[0].id, expected[1].id)
    assert found[1].prices == expected[1].prices
    assert found[1].match == expected[1].match


def test_unknown_model_and_provider_raise_lookup_error(cached: CachedSnapshot) -> None:
    with pytest.raises(LookupError):
        cached.find_provider_model("no-such-model-xyz", None, "openai", None)
    with pytest.raises(LookupError):
        cached.find_provider_model("no-such-model-xyz", None, None, None)


_CHILD = """
import json, sys
from llmguard._pricing import PriceTable
from llmguard._record import Usage
usage = Usage(input_tokens=1200, output_tokens=300, cache_read_tokens=200, reasoning_tokens=100)
table = PriceTable()
costs = [str(table(p, m, usage).total) for p, m in json.loads(sys.argv[1])]
held = "genai_prices.data" in sys.modules
import genai_prices
from llmguard._pricing import PROVIDER_IDS, to_genai_usage
ref = [str(genai_prices.calc_price(to_genai_usage(usage, genai_prices.Usage), m, provider_id=PROVIDER_IDS[p]).total_price)
       for p, m in json.loads(sys.argv[1])]
print(json.dumps({"costs": costs, "ref": ref, "held": held}))
"""


def _child(cache: Path) -> dict[str, object]:
    models = json.dumps([m for m in MODELS if m[0] in ("openai", "anthropic")])
    env = {**os.environ, "LLMGUARD_CACHE_DIR": str(cache)}
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, models], env=env, check=True, capture_output=True, text=True
    )
    result: dict[str, object] = json.loads(out.stdout)
    return result


def test_a_process_builds_the_cache_once_and_others_read_it(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = _child(cache)  # builds the file, then drops genai_prices.data
    files = list(cache.glob("genai-prices-*.pickle"))
    assert len(files) == 1
    assert files[0].stat().st_mode & 0o077 == 0
    second = _child(cache)  # reads it
    for result in (first, second):
        assert result["costs"] == result["ref"]
        assert result["held"] is False
    assert list(cache.glob("genai-prices-*.pickle")) == files


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX ownership")
def test_a_file_others_may_write_is_not_loaded(tmp_path: Path) -> None:
    path = tmp_path / "genai-prices-x.pickle"
    _price_snapshot._write(path, _price_snapshot._serialise(get_snapshot().providers))
    path.chmod(0o666)
    with pytest.raises(PermissionError, match="writable by others"):
        CachedSnapshot(path)


def test_current_snapshot_is_genai_prices_own_when_its_table_is_loaded() -> None:
    import genai_prices.data  # noqa: F401 - loaded by this test process anyway

    assert _price_snapshot.current_snapshot() is get_snapshot()


def test_unwritable_cache_folder_prices_from_the_full_table(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code = (
        "import sys; from llmguard._pricing import PriceTable; from llmguard._record import Usage;"
        "c = PriceTable()('openai', 'gpt-4o-2024-08-06', Usage(input_tokens=10, output_tokens=5));"
        "print(c.total, 'genai_prices.data' in sys.modules)"
    )
    env = {**os.environ, "LLMGUARD_CACHE_DIR": str(blocker / "sub")}
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True)
    total, held = out.stdout.split()
    assert Decimal(total) > 0
    assert held == "True"


def test_a_loaded_file_serves_its_process_after_the_cache_is_cleaned(tmp_path: Path) -> None:
    path = tmp_path / "genai-prices-x.pickle"
    _price_snapshot._write(path, _price_snapshot._serialise(get_snapshot().providers))
    snapshot = CachedSnapshot(path)
    path.unlink()
    provider, model = snapshot.find_provider_model("claude-3-5-haiku-20241022", None, "anthropic", None)
    expected = get_snapshot().find_provider_model("claude-3-5-haiku-20241022", None, "anthropic", None)
    assert (provider.id, model.id, model.prices) == (expected[0].id, expected[1].id, expected[1].prices)


def test_a_truncated_file_is_rebuilt(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = _child(cache)
    (file,) = cache.glob("genai-prices-*.pickle")
    file.write_bytes(file.read_bytes()[:1000])
    second = _child(cache)
    assert second["costs"] == first["costs"] == second["ref"]
    assert file.stat().st_size > 1000
