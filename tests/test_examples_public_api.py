"""Examples use the public API only, and ``guard.stats()`` gives them the counters they need."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

import llmguard
from llmguard import FeedbackStats, Guard, GuardStats
from llmguard.cost import WriterStats
from llmguard.judging import InMemorySink, JudgingStats, Sampling
from llmguard.testing import FakeOpenAI

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
MODEL = "gpt-4o-mini-2024-07-18"


def _sources() -> list[tuple[str, str]]:
    out = [(path.name, path.read_text(encoding="utf-8")) for path in sorted(EXAMPLES.rglob("*.py"))]
    for notebook in sorted(EXAMPLES.rglob("*.ipynb")):
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        for i, cell in enumerate(c for c in cells if c["cell_type"] == "code"):
            lines = "".join(cell["source"]).splitlines()
            code = "\n".join(line for line in lines if not line.lstrip().startswith(("%", "!")))
            out.append((f"{notebook.name} cell {i}", code))
    return out


def _private(module: str) -> bool:
    parts = module.split(".")
    return parts[0] == "llmguard" and any(p.startswith("_") and not p.startswith("__") for p in parts)


def private_uses(source: str) -> list[str]:
    """Imports of private llmguard modules, ``llmguard._x`` attribute chains and ``.runtime`` access."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if _private(alias.name)]
        elif isinstance(node, ast.ImportFrom) and node.module and _private(node.module):
            found.append(f"from {node.module}")
        elif isinstance(node, ast.Attribute):
            chain = ast.unparse(node)
            if node.attr == "runtime" or _private(chain.split("(")[0]):
                found.append(chain)
    return found


def test_the_check_finds_private_uses() -> None:
    source = (
        "import llmguard\nfrom llmguard._feedback import close_sinks\nimport llmguard.cost._observer\n"
        "llmguard._feedback.close_sinks(g)\nobs = guard.runtime.observers\nfrom llmguard.cost import record_call\n"
    )
    assert set(private_uses(source)) == {
        "from llmguard._feedback",
        "llmguard.cost._observer",
        "llmguard._feedback.close_sinks",
        "llmguard._feedback",
        "guard.runtime",
    }


@pytest.mark.parametrize(("name", "source"), _sources(), ids=[name for name, _ in _sources()])
def test_examples_use_public_api_only(name: str, source: str) -> None:
    assert private_uses(source) == [], f"{name} uses private llmguard API"


def test_stats_reads_nothing_before_the_first_call(tmp_path: Path) -> None:
    guard = Guard(db_path=tmp_path / "x.db", judges=["no_refusal"], ledger=True)
    assert guard.stats() == GuardStats(judging=None, ledger=None, feedback=FeedbackStats())
    assert "runtime" not in guard.__dict__  # reading stats built nothing
    assert not (tmp_path / "x.db").exists()


def test_stats_counts_judging_ledger_and_feedback(tmp_path: Path) -> None:
    guard = Guard(
        db_path=tmp_path / "x.db",
        pin_policy="off",
        judges=["no_refusal"],
        sampling=Sampling(rate=1.0),
        judgment_sink=InMemorySink(),
        ledger=True,
    )
    with FakeOpenAI(reply="Paris.").client(llmguard.OpenAI, guard=guard) as client:
        for _ in range(3):
            answer = client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "Capital?"}]
            )
    llmguard.feedback(answer, "thumbs", True, user_id="u1", guard=guard)
    assert guard.flush(timeout=10)
    stats = guard.stats()
    assert isinstance(stats.judging, JudgingStats)
    assert (stats.judging.sampled, stats.judging.judged, stats.judging.pending) == (3, 3, 0)
    assert isinstance(stats.ledger, WriterStats)
    assert (stats.ledger.written, stats.ledger.pending, stats.ledger.dropped) == (3, 0, 0)
    assert stats.feedback == FeedbackStats(recorded=1, failed=0)
    guard.close()


def test_feedback_sink_failures_are_counted() -> None:
    def broken(entry: object) -> None:
        raise RuntimeError("sink down")

    guard = Guard(pin_policy="off", feedback_sink=llmguard.CallbackFeedbackSink(broken))
    with FakeOpenAI(reply="ok").client(llmguard.OpenAI, guard=guard) as client:
        answer = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    llmguard.feedback(answer, "thumbs", False, guard=guard)
    assert guard.stats().feedback == FeedbackStats(recorded=0, failed=1)
