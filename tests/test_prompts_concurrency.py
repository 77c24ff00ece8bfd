"""Two real processes promote at once with the same expectation: exactly one wins."""

from __future__ import annotations

import multiprocessing
import shutil
from pathlib import Path

import pytest

from llmguard.exceptions import LabelConflictError
from llmguard.prompts import FileStore, PromptRegistry, PromptStore, PromptVersion, SQLiteStore

SEED = Path(__file__).parent / "data" / "prompts"


def _store(kind: str, where: str) -> PromptStore:
    return FileStore(where) if kind == "file" else SQLiteStore(where)


def _promote(
    kind: str,
    where: str,
    target: str,
    start: multiprocessing.synchronize.Barrier,
    out: multiprocessing.Queue[str],
) -> None:
    registry = PromptRegistry(_store(kind, where))
    start.wait(timeout=30)
    try:
        registry.promote("support-bot", target, label="production", expect="2.1.0", who=f"proc-{target}")
        out.put(f"won:{target}")
    except LabelConflictError:
        out.put(f"conflict:{target}")


def _prepare(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if kind == "file":
        root = tmp_path / "prompts"
        shutil.copytree(SEED, root)
        for v in ("2.2.0", "2.3.0"):
            (root / "support-bot" / f"v{v}.yaml").write_text(f'version: "{v}"\nsystem_prompt: "v{v}"\n')
        where = str(root)
    else:
        where = (
            str(request.getfixturevalue("postgres_server").new_database())
            if kind == "postgresql"
            else str(tmp_path / "prompts.db")
        )
        store = SQLiteStore(where)
        for v in ("2.1.0", "2.2.0", "2.3.0"):
            store.save(PromptVersion(name="support-bot", version=v, system_prompt=f"v{v}"))
        store.close()
    PromptRegistry(_store(kind, where)).promote("support-bot", "2.1.0", label="production", expect=None)
    return where


@pytest.mark.parametrize("kind", ["file", "sqlite", "postgresql"])
def test_concurrent_promotions_one_wins(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    where = _prepare(kind, tmp_path, request)
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(2)
    out: multiprocessing.Queue[str] = ctx.Queue()
    procs = [ctx.Process(target=_promote, args=(kind, where, v, start, out)) for v in ("2.2.0", "2.3.0")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    results = sorted(out.get(timeout=5) for _ in procs)
    winners = [r for r in results if r.startswith("won:")]
    assert len(winners) == 1
    assert len([r for r in results if r.startswith("conflict:")]) == 1
    registry = PromptRegistry(_store(kind, where))
    moves = registry.history("support-bot", "production")
    assert [m.from_ for m in moves] == [None, "2.1.0"]
    assert moves[1].to == winners[0].removeprefix("won:")
    assert registry.get("support-bot", label="production").version == moves[1].to
