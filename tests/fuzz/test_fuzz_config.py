"""Fuzz: ``llmguard.toml`` and ``pyproject.toml``, then building every feature and making one call.

A config that cannot build a feature must fail loudly with a typed error (never a feature dropped
with a log line); only `llmguard.LLMGuardError` subclasses may escape.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fuzz_support import fuzz, typed
from hypothesis import given
from hypothesis import strategies as st

import llmguard
from llmguard import Guard
from llmguard._settings import FILE_KEYS
from llmguard.testing import FakeOpenAI

MODEL = "gpt-4o-2024-08-06"
KEYS = [*sorted(FILE_KEYS), "tool", "unknown"]
SUBKEYS = [
    "limits", "rules", "ledger", "retention_days", "check_interval_s", "queue_size", "soft_usd", "hard_usd",
    "period", "prompt", "model", "rate", "errors", "retain_unsampled", "enabled", "metrics",
    "content_max_bytes", "input", "output", "name", "type", "multiplier", "days", MODEL, "gpt-4o",
]  # fmt: skip
WORDS = [
    "enforce", "warn", "off", "production", "day", "month", "baseline", "zscore", "no_refusal",
    "min_length", "json_valid", "no_such_judge", "no.such.module:attr", "sqlite:///store.db", "store.db",
    MODEL, "gpt-4o", "",
]  # fmt: skip

scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(WORDS),
    st.text(alphabet=st.characters(codec="utf-8", exclude_characters="/\\:"), max_size=8),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(SUBKEYS) | st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=10,
)
tables = st.dictionaries(st.sampled_from(KEYS), values, max_size=5)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"


def _toml(table: dict[str, Any]) -> str:
    return "".join(f"{json.dumps(k)} = {_toml_value(v)}\n" for k, v in table.items())


def _nested(depth: int) -> bytes:
    return b"a = " + b"[" * depth + b"]" * depth + b"\n"


documents = st.one_of(
    tables.map(lambda t: _toml(t).encode("utf-8", "surrogatepass")),
    st.binary(max_size=200),
    st.integers(1, 3000).map(_nested),
    st.sampled_from([b"tool = 1\n", b"budgets = {limits = 5}\n", b"judges = 5\n", b"telemetry = []\n"]),
)


def _use_every_feature() -> None:
    guard = Guard()
    try:
        guard.runtime  # noqa: B018 - builds every feature
        guard.prompts  # noqa: B018
        guard.configs  # noqa: B018
        with FakeOpenAI().client(llmguard.OpenAI, guard=guard) as client:
            client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    finally:
        guard.close()


@fuzz(150)
@given(document=documents, file_name=st.sampled_from(["llmguard.toml", "pyproject.toml"]))
def test_config_files(tmp_path: Path, document: bytes, file_name: str) -> None:
    for name in ("llmguard.toml", "pyproject.toml"):
        (tmp_path / name).unlink(missing_ok=True)
    if file_name == "pyproject.toml":
        document = b"[tool.llmguard]\n" + document if document[:1] != b"t" else document
    (tmp_path / file_name).write_bytes(document)
    typed("config files", _use_every_feature)
