"""Stores, resolution, labels, promotion, rollback, canaries, caching, config artifacts, bad input."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from llmguard import Guard
from llmguard.exceptions import (
    ConfigurationError,
    LabelConflictError,
    PromotionRefusedError,
    PromptError,
    PromptFormatError,
    PromptNotFoundError,
)
from llmguard.prompts import (
    ANY,
    FileStore,
    MemoryStore,
    PromotionRequest,
    PromptRegistry,
    PromptStore,
    PromptVersion,
    SQLiteStore,
    TTLCache,
    validate_store,
)

SEED = Path(__file__).parent / "data" / "prompts"


def version(v: str, name: str = "bot", **extra: Any) -> PromptVersion:
    return PromptVersion.model_validate(
        {"name": name, "version": v, "model": "gpt-4o-2024-08-06", "system_prompt": f"v{v}", **extra}
    )


def write(root: Path, name: str, file: str, body: str) -> Path:
    path = root / name / file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    return path


def file_store(tmp_path: Path) -> PromptStore:
    root = tmp_path / "prompts"
    for v in ("1.0.0", "2.0.0", "2.1.0", "2.2.0-rc.1", "3.0.0"):
        write(
            root, "bot", f"v{v}.yaml", f'version: "{v}"\nmodel: "gpt-4o-2024-08-06"\nsystem_prompt: "v{v}"\n'
        )
    return FileStore(root)


def memory_store(tmp_path: Path) -> PromptStore:
    return MemoryStore([version(v) for v in ("1.0.0", "2.0.0", "2.1.0", "2.2.0-rc.1", "3.0.0")])


def sqlite_store(tmp_path: Path, where: str | None = None) -> PromptStore:
    store = SQLiteStore(where or tmp_path / "p.db")
    for v in ("1.0.0", "2.0.0", "2.1.0", "2.2.0-rc.1", "3.0.0"):
        store.save(version(v))
    return store


@pytest.fixture(params=["file", "memory", "sqlite", "postgresql"])
def make(request: pytest.FixtureRequest) -> Callable[[Path], PromptStore]:
    """Each store kind, seeded with the same versions (the SQL store on both engines)."""
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_server").new_database()
        return lambda tmp_path: sqlite_store(tmp_path, url)
    makers: dict[str, Callable[[Path], PromptStore]] = {
        "file": file_store, "memory": memory_store, "sqlite": sqlite_store,
    }  # fmt: skip
    return makers[str(request.param)]


def STORES(test: Any) -> Any:
    """Run ``test`` on every store kind (through the ``make`` fixture)."""
    return test


@STORES
def test_resolution(make: Callable[[Path], PromptStore], tmp_path: Path) -> None:
    reg = PromptRegistry(make(tmp_path))
    assert reg.get("bot").version == "3.0.0"
    assert reg.get("bot", "latest").version == "3.0.0"
    assert reg.get("bot", "^2.0").version == "2.1.0"
    assert reg.get("bot", "~2.0.0").version == "2.0.0"
    assert reg.get("bot", ">=2,<3").version == "2.1.0"
    assert reg.get("bot", "2.x").version == "2.1.0"
    assert reg.get("bot", "2.2.0-rc.1").version == "2.2.0-rc.1"
    assert reg.get("bot", "v1.0.0").version == "1.0.0"
    with pytest.raises(PromptNotFoundError, match=r"no version matches '4.x'"):
        reg.get("bot", "4.x")
    with pytest.raises(PromptNotFoundError, match=r"unknown label 'production'"):
        reg.get("bot", label="production")
    with pytest.raises(PromptNotFoundError):
        reg.get("nope")
    with pytest.raises(ConfigurationError):
        reg.get("bot", "1.0.0", label="x")


@STORES
def test_promote_cas_rollback(make: Callable[[Path], PromptStore], tmp_path: Path) -> None:
    reg = PromptRegistry(make(tmp_path))
    first = reg.promote("bot", "1.0.0", label="production", expect=None, reason="launch", who="ann")
    assert (first.from_, first.to, first.who, first.why) == (None, "1.0.0", "ann", "launch")
    assert reg.get("bot").version == "1.0.0"  # the production label is the default
    assert reg.get("bot", label="production").label == "production"
    reg.promote("bot", "2.0.0", label="production", expect="1.0.0", evidence={"score": 0.9})
    with pytest.raises(LabelConflictError, match=r"points at 2.0.0"):
        reg.promote("bot", "2.1.0", label="production", expect="1.0.0")
    with pytest.raises(PromptNotFoundError, match=r"unknown version '9.9.9'"):
        reg.promote("bot", "9.9.9", label="production")
    reg.promote("bot", "2.1.0", label="production", expect="2.0.0")
    assert reg.get("bot", label="production").ref.label == "production"
    back = reg.rollback("bot", label="production", reason="bad answers")
    assert (back.from_, back.to, back.action) == ("2.1.0", "2.0.0", "rollback")
    assert reg.rollback("bot", label="production").to == "1.0.0"
    with pytest.raises(PromptNotFoundError, match=r"no earlier promotion"):
        reg.rollback("bot", label="production")
    moves = reg.history("bot", "production")
    assert [m.to for m in moves] == ["1.0.0", "2.0.0", "2.1.0", "2.0.0", "1.0.0"]
    assert moves[1].evidence == {"score": 0.9}
    reg.promote("bot", "3.0.0", label="production")
    assert reg.rollback("bot", label="production", to="1.0.0").to == "1.0.0"
    reg.promote("bot", "3.0.0", label="production")
    with pytest.raises(PromptNotFoundError, match=r"never pointed at"):
        reg.rollback("bot", label="production", to="2.1.0")


@STORES
def test_canary_split_is_deterministic(make: Callable[[Path], PromptStore], tmp_path: Path) -> None:
    reg = PromptRegistry(make(tmp_path))
    reg.promote("bot", {"2.0.0": 90, "2.1.0": 10}, label="production")
    chosen = {reg.get("bot", label="production", key=f"user-{i}").version for i in range(400)}
    assert chosen == {"2.0.0", "2.1.0"}
    share = (
        sum(reg.get("bot", label="production", key=f"u{i}").version == "2.1.0" for i in range(2000)) / 2000
    )
    assert 0.06 < share < 0.14
    assert all(
        reg.get("bot", label="production", key="42").version
        == reg.get("bot", label="production", key="42").version
        for _ in range(5)
    )
    assert reg.labels("bot")["production"] == {"2.0.0": 90, "2.1.0": 10}
    reg.promote("bot", "2.1.0", label="production", expect="2.0.0=90,2.1.0=10")


def test_protected_labels_and_gate() -> None:
    store = MemoryStore([version("1.0.0"), version("2.0.0")])
    reg = PromptRegistry(store, protected_labels=["production"])
    with pytest.raises(PromptError, match=r"protected"):
        reg.promote("bot", "1.0.0", label="production")
    assert reg.promote("bot", "1.0.0", label="production", evidence={"run": "r1"}).evidence == {"run": "r1"}
    seen: list[PromotionRequest] = []

    def gate(request: PromotionRequest) -> dict[str, Any]:
        seen.append(request)
        if request.target == "2.0.0":
            return {"eval_score": 0.91}
        raise PromptError("eval gate failed")

    gated = PromptRegistry(store, protected_labels=["production"], gate=gate)
    assert gated.promote("bot", "2.0.0", label="production").evidence == {"eval_score": 0.91}
    assert seen[0].versions[0].version == "2.0.0"
    gated.promote("bot", "1.0.0", label="staging")  # unprotected: no gate
    assert len(seen) == 1


def test_file_store_layout_and_reload(tmp_path: Path) -> None:
    root = tmp_path / "prompts"
    shutil.copytree(SEED, root)
    reg = PromptRegistry(FileStore(root), ttl=0)
    reg.promote("support-bot", "2.1.0", label="production", reason="launch")
    assert (root / "support-bot" / "labels.yaml").read_text().splitlines()[1] == "production: 2.1.0"
    assert len((root / "support-bot" / "history.jsonl").read_text().splitlines()) == 1
    write(root, "support-bot", "2.2.0.yaml", 'version: "2.2.0"\nsystem_prompt: "new"\n')
    assert reg.get("support-bot", "latest").version == "2.2.0"
    assert reg.get("support-bot").version == "2.1.0"


def test_cache_ttl_stale_on_error_and_exact_invalidation() -> None:
    now = [0.0]
    cache: TTLCache[str] = TTLCache(ttl=10, max_stale=100, clock=lambda: now[0])
    calls: list[str] = []

    def load(value: str) -> Callable[[], str]:
        def inner() -> str:
            calls.append(value)
            if value == "boom":
                raise OSError("store down")
            return value

        return inner

    assert cache.get("support", load("a")) == "a"
    assert cache.get("support-bot", load("b")) == "b"
    assert cache.get("support", load("x")) == "a"
    assert calls == ["a", "b"]
    now[0] = 50
    assert cache.get("support", load("boom")) == "a"
    assert cache.stats.stale_served == 1
    now[0] = 200
    with pytest.raises(OSError, match=r"store down"):
        cache.get("support", load("boom"))
    cache.invalidate("support")
    assert cache.peek("support") is None
    assert cache.peek("support-bot") == "b"


def test_registry_cache_serves_within_ttl(tmp_path: Path) -> None:
    store = MemoryStore([version("1.0.0")])
    reg = PromptRegistry(store, ttl=60)
    assert reg.get("bot").version == "1.0.0"
    store.save(version("1.1.0"))
    assert reg.get("bot").version == "1.0.0"
    reg.invalidate("bot")
    assert reg.get("bot").version == "1.1.0"


class RagConfig(BaseModel):
    chunk_size: int
    embedding_model: str
    top_k: int
    strategy: str


def test_config_artifacts_share_the_mechanism(tmp_path: Path) -> None:
    root = tmp_path / "configs"
    body = (
        'version: "{v}"\nschema:\n  chunk_size: {{type: integer}}\n  embedding_model: {{type: string}}\n'
        "  top_k: {{type: integer, default: 5}}\n  strategy: {{type: string, default: hybrid}}\n"
        "values:\n  chunk_size: {size}\n  embedding_model: text-embedding-3-small\n"
    )
    write(root, "rag", "v1.0.0.yaml", body.format(v="1.0.0", size=512))
    write(root, "rag", "v1.1.0.yaml", body.format(v="1.1.0", size=800))
    guard = Guard(configs=root)
    configs = guard.configs
    with pytest.raises(PromotionRefusedError, match="protected"):  # Guard registries protect production
        configs.promote("rag", "1.0.0", label="production")
    configs.promote("rag", "1.0.0", label="production", evidence={"eval_score": 0.9})
    configs.promote("rag", "1.1.0", label="production", expect="1.0.0", force=True, reason="hotfix")
    config = configs.get("rag", label="production")
    assert config.kind == "config"
    assert config.settings["top_k"] == 5
    assert config.parse(RagConfig).chunk_size == 800
    assert configs.rollback("rag", label="production").to == "1.0.0"
    assert configs.get("rag", label="production").settings["chunk_size"] == 512
    write(
        root,
        "bad",
        "v1.0.0.yaml",
        'version: "1.0.0"\nschema:\n  top_k: {type: integer}\nvalues:\n  top_k: "5"\n',
    )
    with pytest.raises(PromptFormatError, match=r"values.*top_k"):
        configs.get("bad")
    write(root, "bad2", "v1.0.0.yaml", 'version: "1.0.0"\nsystem_prompt: "x"\n')
    with pytest.raises(PromptFormatError, match=r"field system_prompt: not allowed in a config file"):
        configs.get("bad2")


# --- bad input: typed errors naming file and field ------------------------------------------


def bad(tmp_path: Path, file: str, body: str, name: str = "bot") -> str:
    root = tmp_path / "prompts"
    path = write(root, name, file, body)
    with pytest.raises(PromptFormatError) as info:
        PromptRegistry(FileStore(root)).get(name)
    assert str(path) in str(info.value)
    return str(info.value)


def test_malformed_yaml_names_line(tmp_path: Path) -> None:
    message = bad(tmp_path, "v1.0.0.yaml", 'version: "1.0.0"\nsystem_prompt: "x\nmodel: [\n')
    assert "line" in message
    assert "malformed YAML" in message


def test_version_disagrees_with_file_name(tmp_path: Path) -> None:
    message = bad(tmp_path, "v1.0.0.yaml", 'version: "1.0.1"\nsystem_prompt: "x"\n')
    assert "field version" in message
    assert "file name" in message


def test_invalid_semver(tmp_path: Path) -> None:
    assert "field version" in bad(tmp_path, "v1.0.yaml", 'version: "1.0"\nsystem_prompt: "x"\n')


def test_unknown_field_is_named(tmp_path: Path) -> None:
    assert "field sytem_prompt" in bad(tmp_path, "v1.0.0.yaml", 'version: "1.0.0"\nsytem_prompt: "x"\n')


def test_duplicate_version(tmp_path: Path) -> None:
    write(tmp_path / "prompts", "bot", "1.0.0.yaml", 'version: "1.0.0"\nsystem_prompt: "x"\n')
    message = bad(tmp_path, "v1.0.0.yaml", 'version: "1.0.0"\nsystem_prompt: "x"\n')
    assert "duplicate version 1.0.0" in message


def test_duplicate_version_in_runtime_store(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "p.db")
    store.save(version("1.0.0"))
    store.save(version("1.0.0", eval_score=0.3))  # same content: idempotent
    with pytest.raises(PromptFormatError, match=r"duplicate version 1.0.0"):
        store.save(version("1.0.0", system_prompt="changed"))


def test_oversized_template(tmp_path: Path) -> None:
    body = f'version: "1.0.0"\nsystem_prompt: "{"x" * 100_001}"\n'
    assert "field system_prompt" in bad(tmp_path, "v1.0.0.yaml", body)


def test_template_reaching_python_internals(tmp_path: Path) -> None:
    body = 'version: "1.0.0"\nsystem_prompt: "{{ \'\'.__class__.__mro__[1].__subclasses__() }}"\n'
    assert "field system_prompt" in bad(tmp_path, "v1.0.0.yaml", body)


@pytest.mark.parametrize("name", ["../../etc/passwd", "..", "a/b", "/etc/passwd", ".hidden", ""])
def test_path_traversal_in_name(tmp_path: Path, name: str) -> None:
    reg = PromptRegistry(FileStore(tmp_path / "prompts"))
    with pytest.raises(PromptFormatError, match=r"invalid prompt name"):
        reg.get(name)
    with pytest.raises(PromptFormatError, match=r"invalid prompt name"):
        reg.promote(name, "1.0.0", label="production")


def test_bad_labels_file(tmp_path: Path) -> None:
    root = tmp_path / "prompts"
    write(root, "bot", "v1.0.0.yaml", 'version: "1.0.0"\nsystem_prompt: "x"\n')
    path = write(root, "bot", "labels.yaml", "production: {1.0.0: lots}\n")
    with pytest.raises(PromptFormatError, match=r"field production") as info:
        PromptRegistry(FileStore(root)).get("bot")
    assert str(path) in str(info.value)


def test_validate_findings(tmp_path: Path) -> None:
    root = tmp_path / "prompts"
    shutil.copytree(SEED, root)
    write(root, "t", "v1.0.0.yaml", 'version: "1.0.0"\nuser_template: "{{ q }}"\nvariables: {unused: {}}\n')
    write(root, "t", "labels.yaml", "production: 9.0.0\n")
    store = FileStore(root)
    warn = validate_store(store, policy="warn")
    assert [f.severity for f in warn if "gpt-4o" in f.message] == ["warning"]
    assert any("variable 'q' is not declared" in f.message for f in warn)
    assert any("declared but never used" in f.message and f.severity == "warning" for f in warn)
    assert any("unknown version '9.0.0'" in f.message for f in warn)
    assert [f.severity for f in validate_store(store, policy="enforce") if "gpt-4o" in f.message] == ["error"]
    assert [
        f.severity for f in validate_store(store, policy="warn", strict=True) if "gpt-4o" in f.message
    ] == ["error"]
    assert not [
        f
        for f in validate_store(store, policy="enforce", pins={"gpt-4o": "gpt-4o-2024-08-06"})
        if "gpt-4o" in f.message
    ]


def test_guard_store_arguments(tmp_path: Path) -> None:
    assert isinstance(Guard(prompts=f"sqlite:///{tmp_path / 'x.db'}").prompts.store, SQLiteStore)
    store = MemoryStore([version("1.0.0")])
    assert Guard(prompts=store).prompts.store is store
    with pytest.raises(ConfigurationError):
        _ = Guard(prompts=42).prompts
    with pytest.raises(ConfigurationError):
        _ = Guard(configs=MemoryStore()).configs
    assert ANY is not None


@given(st.text(max_size=80))
def test_one_label_pattern_everywhere(label: str) -> None:
    from llmguard.prompts._labels import LABEL_PATTERN, check_label

    store = MemoryStore([version("1.0.0")])
    reg = PromptRegistry(store)
    if LABEL_PATTERN.fullmatch(label):
        assert check_label(label) == label
        assert reg.promote("bot", "1.0.0", label=label).label == label
        assert reg.get("bot", label=label).version == "1.0.0"
        return
    for attempt in (
        lambda: reg.promote("bot", "1.0.0", label=label),
        lambda: reg.rollback("bot", label=label),
        lambda: reg.get("bot", label=label),
        lambda: reg.history("bot", label),
        lambda: PromptRegistry(store, protected_labels=[label]),
    ):
        with pytest.raises(PromptFormatError, match="invalid label"):
            attempt()


def test_forced_promotion_and_failing_gates() -> None:
    store = MemoryStore([version("1.0.0")])
    with pytest.raises(ConfigurationError, match="needs a reason"):
        PromptRegistry(store, protected_labels=["production"]).promote(
            "bot", "1.0.0", label="production", force=True
        )
    forced = PromptRegistry(store, protected_labels=["production"]).promote(
        "bot", "1.0.0", label="production", force=True, reason="hotfix", who="ann"
    )
    assert forced.evidence == {"forced": True, "forced_by": "ann", "forced_reason": "hotfix"}

    def broken(request: PromotionRequest) -> dict[str, Any]:
        raise RuntimeError("gate bug")

    gated = PromptRegistry(store, protected_labels=["production"], gate=broken)
    with pytest.raises(PromotionRefusedError, match="RuntimeError: gate bug") as info:
        gated.promote("bot", "1.0.0", label="production", expect="1.0.0")
    assert isinstance(info.value.__cause__, RuntimeError)

    def fake(request: PromotionRequest) -> dict[str, Any]:
        return {"provider": "fake", "eval_score": 1.0}

    with pytest.raises(PromotionRefusedError, match="fake eval provider"):
        PromptRegistry(store, protected_labels=["production"], gate=fake).promote(
            "bot", "1.0.0", label="production"
        )
