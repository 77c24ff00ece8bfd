"""``llmguard cost report``: a call without a known price is reported as unpriced, never as $0."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

import llmguard
from llmguard import Guard
from llmguard.cli import app
from llmguard.testing import FakeOpenAI

PRICED = "gpt-4o-2024-08-06"
UNPRICED = "acme-private-model-7"


def _seed(db: Path, calls: dict[str, int]) -> None:
    guard = Guard(db_path=db, pin_policy="off", ledger=True)
    with FakeOpenAI(reply="ok").client(llmguard.OpenAI, guard=guard) as client:
        for model, n in calls.items():
            for _ in range(n):
                client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    guard.close()


def _report(db: Path, *args: str) -> Any:
    result = CliRunner().invoke(app, ["--db", str(db), "cost", "report", *args], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.stdout


def test_unpriced_model_is_null_not_zero(tmp_path: Path) -> None:
    db = tmp_path / "l.db"
    _seed(db, {PRICED: 1, UNPRICED: 2})
    report = json.loads(_report(db, "--by", "model", "--format", "json"))
    rows = {row["model"]: row for row in report["rows"]}
    assert rows[UNPRICED]["cost_usd"] is None
    assert rows[UNPRICED]["unpriced"] == 2
    assert rows[PRICED]["cost_usd"] is not None
    assert rows[PRICED]["cost_usd"] > 0
    assert report["totals"] == {"calls": 3, "unpriced": 2, "cost_usd": rows[PRICED]["cost_usd"]}

    table = _report(db, "--by", "model")
    line = next(line for line in table.splitlines() if UNPRICED in line)
    assert "unpriced" in line
    assert "$0.0000" not in line
    assert "2 of 3 calls unpriced" in table

    rows_csv = {
        r["model"]: r for r in csv.DictReader(io.StringIO(_report(db, "--by", "model", "--format", "csv")))
    }
    assert rows_csv[UNPRICED]["cost_usd"] == ""


def test_only_unpriced_calls_give_an_unknown_total(tmp_path: Path) -> None:
    db = tmp_path / "l.db"
    _seed(db, {UNPRICED: 1})
    report = json.loads(_report(db, "--json", "--by", "day"))
    assert report["totals"] == {"calls": 1, "unpriced": 1, "cost_usd": None}
    assert report["daily_cost"][-1] is None  # a day with calls but no price: unknown, not 0.0
    table = _report(db)
    total = next(line for line in table.splitlines() if "total" in line)
    assert "unpriced" in total
    assert "$" not in total
