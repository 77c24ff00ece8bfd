"""Static typing: revealed types of llmguard's clients match the stock SDK classes exactly."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from mypy import api

TEMPLATE = Path(__file__).parent / "typecheck" / "template.txt"


def _revealed(tmp_path: Path, openai_module: str, anthropic_module: str, name: str) -> list[str]:
    source = TEMPLATE.read_text(encoding="utf-8")
    source = source.replace("{OPENAI_MODULE}", openai_module).replace("{ANTHROPIC_MODULE}", anthropic_module)
    target = tmp_path / f"{name}.py"
    target.write_text(source, encoding="utf-8")
    root = Path(__file__).parents[1]
    # Same options and cache as `make typecheck`, which runs first and leaves the SDKs cached.
    stdout, stderr, _ = api.run(
        [str(target), "--config-file", str(root / "pyproject.toml"), "--cache-dir", str(root / ".mypy_cache")]
    )
    assert "error:" not in stdout.replace("note:", ""), stdout + stderr
    found = re.findall(r'Revealed type is "(.*)"', stdout)
    assert found, stdout + stderr
    return [
        re.sub(r"llmguard\._typing\.(\w+)", lambda m: f"CLIENT.{m.group(1)}", t)
        .replace("openai._client.", "CLIENT.")
        .replace("anthropic._client.", "CLIENT.")
        .replace(f"{name}.Answer", "MODULE.Answer")
        for t in found
    ]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_revealed_types_match_the_stock_classes(tmp_path: Path) -> None:
    stock = _revealed(tmp_path, "openai", "anthropic", "stock")
    guarded = _revealed(tmp_path, "llmguard", "llmguard", "guarded")
    assert len(stock) == 25
    assert guarded == stock
