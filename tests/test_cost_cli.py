"""``llmguard cost report`` and ``llmguard cost check`` through real subprocesses, and the example."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from llmguard.cli._cost import sparkline
from llmguard.cost import SQLiteLedger
from llmguard.cost._budget import UTCClock
from llmguard.cost._observer import ledger_row
from test_cost_ledger import DAY_NS, make_record

ROOT = Path(__file__).resolve().parents[1]


def _ledger(path: Path, daily_usd: list[str], today_prompt: str = "bot") -> None:
    """Write one call a day for len(daily_usd) days ending today (the last value is today's)."""
    clock = UTCClock()
    now = time.time_ns()
    rows = [
        ledger_row(
            make_record(ts_ns=now - (len(daily_usd) - 1 - i) * DAY_NS, usd=usd),
            clock,
            round(float(usd) * 1e9),
        )
        for i, usd in enumerate(daily_usd)
    ]
    rows.append(ledger_row(make_record(ts_ns=now, usd=None, prompt=today_prompt), clock, None))
    ledger = SQLiteLedger(path)
    ledger.write(rows)
    ledger.close()


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llmguard", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_report_formats(tmp_path: Path) -> None:
    db = tmp_path / "l.db"
    _ledger(db, ["1.00", "2.00", "3.00"])
    result = _run("--db", str(db), "--json", "cost", "report", "--by", "prompt", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["rows"] == [
        {
            "prompt": "bot",
            "calls": 4,
            "unpriced": 1,
            "input_tokens": 40,
            "output_tokens": 20,
            "errors": 0,
            "cost_usd": 6.0,
        }
    ]
    assert report["daily_cost"] == [1.0, 2.0, 3.0]
    csv_out = _run("--db", str(db), "cost", "report", "--by", "day", "--format", "csv", cwd=tmp_path)
    assert csv_out.returncode == 0, csv_out.stderr
    lines = csv_out.stdout.strip().splitlines()
    assert lines[0] == "day,calls,unpriced,input_tokens,output_tokens,errors,cost_usd"
    assert len(lines) == 4
    table = _run("--db", str(db), "cost", "report", "--since", "7d", cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    assert "$6.0000" in table.stdout
    assert "daily cost ▃▆█" in table.stdout


def test_report_errors_exit_2(tmp_path: Path) -> None:
    missing = _run("--db", str(tmp_path / "none.db"), "cost", "report", cwd=tmp_path)
    assert missing.returncode == 2
    assert "no llmguard database at" in missing.stderr
    assert "Guard(ledger=True)" in missing.stderr
    _ledger(tmp_path / "l.db", ["1"])
    bad = _run("--db", str(tmp_path / "l.db"), "cost", "report", "--since", "last week", cwd=tmp_path)
    assert bad.returncode == 2
    assert "--since" in bad.stderr


CONFIG = """
[budgets]
rules = [{{ type = "baseline", multiplier = 2.0, baseline = 100.0, min_value = 10 }}]
limits = [{{ period = "day", soft_usd = {soft} }}]
"""


@pytest.mark.parametrize(
    ("today", "soft", "code"),
    [("201.00", 1000, 1), ("200.00", 1000, 0), ("199.00", 1000, 0), ("150.00", 150, 1)],
)
def test_check_exit_codes(tmp_path: Path, today: str, soft: int, code: int) -> None:
    _ledger(tmp_path / "l.db", ["100.00", today])
    (tmp_path / "llmguard.toml").write_text(textwrap.dedent(CONFIG.format(soft=soft)))
    result = _run("--db", str(tmp_path / "l.db"), "cost", "check", cwd=tmp_path)
    assert result.returncode == code, result.stdout + result.stderr
    assert ("ALERT" in result.stdout) is bool(code)


def test_check_json_and_config_errors(tmp_path: Path) -> None:
    _ledger(tmp_path / "l.db", ["100.00", "250.00"])
    no_config = _run("--db", str(tmp_path / "l.db"), "cost", "check", cwd=tmp_path)
    assert no_config.returncode == 2
    assert "no [tool.llmguard.budgets]" in no_config.stderr
    (tmp_path / "llmguard.toml").write_text(textwrap.dedent(CONFIG.format(soft=1000)))
    result = _run("--db", str(tmp_path / "l.db"), "--json", "cost", "check", cwd=tmp_path)
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["alerts"][0]["kind"] == "baseline"
    assert report["alerts"][0]["value"] == 250.0
    (tmp_path / "llmguard.toml").write_text('[budgets]\nrules = [{ type = "baseline", series = "vibes" }]\n')
    bad = _run("--db", str(tmp_path / "l.db"), "cost", "check", cwd=tmp_path)
    assert bad.returncode == 2
    assert "unknown series 'vibes'" in bad.stderr


def test_sparkline() -> None:
    assert sparkline([]) == ""
    assert sparkline([0, 0]) == "▁▁"
    assert sparkline([1, 2, 4, 8]) == "▂▃▅█"


def test_example_cost_month_runs_offline(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "cost_month.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "day 20: ALERT daily-cost-doubled" in result.stdout
