"""Fuzz: prompt version files, ``labels.yaml``, ``history.jsonl`` and the SQLite prompt store.

Only `llmguard.LLMGuardError` subclasses may escape loading, resolving and rendering.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from fuzz_support import fuzz, typed
from hypothesis import given
from hypothesis import strategies as st

from llmguard.prompts import FileStore, PromptRegistry, SQLiteStore

FIELDS = [
    "version", "model", "system_prompt", "user_template", "few_shot_examples", "messages", "variables",
    "parameters", "schema", "values", "eval_score", "author", "created_at", "description", "tags",
    "name", "kind", "label",
]  # fmt: skip
SNIPPETS = ["{{ name }}", "{{", "}}", "{% for x in name %}", "{% endfor %}", "{{ n // 0 }}", "{{ x | nope }}"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=20),
    st.sampled_from(["1.0.0", "string", "integer", "user", "system", "assistant", *SNIPPETS]),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
documents = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), values, max_size=8)
templates = st.lists(st.sampled_from(SNIPPETS) | st.text(max_size=10), max_size=4).map("".join)
near_valid = st.fixed_dictionaries(
    {"version": st.just("1.0.0"), "user_template": templates},
    optional={
        "model": st.text(max_size=20),
        "variables": st.dictionaries(st.sampled_from(["name", "n", "x", "1bad"]), values, max_size=2),
        "parameters": st.dictionaries(
            st.sampled_from(["temperature", "max_tokens", "bogus"]), values, max_size=2
        ),
        "system_prompt": templates,
    },
)


def _dump(document: dict[str, Any]) -> bytes:
    return yaml.safe_dump(document, allow_unicode=True).encode("utf-8", "surrogatepass")


def _nested(depth: int, opener: str) -> bytes:
    return (opener * depth).encode()


file_bytes = st.one_of(
    st.binary(max_size=400),
    st.text(max_size=400).map(lambda t: t.encode("utf-8", "surrogatepass")),
    documents.map(_dump),
    near_valid.map(_dump),
    near_valid.map(_dump),
    st.builds(_nested, st.integers(1, 3000), st.sampled_from(["[", "{", "- ", "a: "])),
    st.builds(lambda b, d: d + b, st.binary(min_size=1, max_size=8), documents.map(_dump)),
)


label_files = st.dictionaries(
    st.sampled_from(["production", "staging"]) | st.text(max_size=6),
    st.sampled_from(["1.0.0", "2.0.0", "1.0.0=90,1.0.0=10", "x"])
    | st.dictionaries(st.sampled_from(["1.0.0", "9"]), values),
    max_size=3,
).map(_dump)


def _resolve(root: Path, label: str | None = None) -> None:
    registry = PromptRegistry(FileStore(root))
    version = registry.get("p", label=label)
    version.render()


@fuzz(150)
@given(data=file_bytes)
def test_version_files(tmp_path: Path, data: bytes) -> None:
    folder = tmp_path / "prompts" / "p"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "v1.0.0.yaml").write_bytes(data)
    typed("prompt files", lambda: _resolve(tmp_path / "prompts"))


VALID = b"version: '1.0.0'\nuser_template: hello\n"


@fuzz(100)
@given(
    labels=file_bytes | label_files,
    label=st.text(max_size=20) | st.sampled_from(["production", "staging", "p"]),
)
def test_labels_file(tmp_path: Path, labels: bytes, label: str) -> None:
    folder = tmp_path / "prompts" / "p"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "v1.0.0.yaml").write_bytes(VALID)
    (folder / "labels.yaml").write_bytes(labels)
    typed("labels", lambda: _resolve(tmp_path / "prompts", label))


@fuzz(60)
@given(history=file_bytes)
def test_history_file(tmp_path: Path, history: bytes) -> None:
    folder = tmp_path / "prompts" / "p"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "v1.0.0.yaml").write_bytes(VALID)
    (folder / "history.jsonl").write_bytes(history)
    typed("labels", lambda: FileStore(tmp_path / "prompts").history("p"))


def _store_bytes(tmp_path: Path) -> bytes:
    path = tmp_path / "seed.db"
    if not path.exists():
        store = SQLiteStore(path)
        store.close()
    return path.read_bytes()


@fuzz(60)
@given(
    cut=st.integers(0, 20_000),
    garbage=st.binary(max_size=64),
    offset=st.integers(0, 20_000),
)
def test_sqlite_store_damaged(tmp_path: Path, cut: int, garbage: bytes, offset: int) -> None:
    good = _store_bytes(tmp_path)
    damaged = bytearray(good[:cut])
    damaged[offset : offset + len(garbage)] = garbage
    path = tmp_path / "damaged.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.write_bytes(bytes(damaged))

    def open_and_read() -> None:
        store = SQLiteStore(path)
        try:
            store.names()
            PromptRegistry(store).get("p")
        finally:
            store.close()

    typed("prompt store", open_and_read)
