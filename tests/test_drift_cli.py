"""``llmguard drift report`` and ``llmguard drift check``: exit codes, table, JSON and the SVG chart.

``examples/drift_week.py`` (a topic mix change on day 5 alerts on day 5 and not before; the
example asserts it and exits non-zero otherwise) runs in ``tests/test_examples.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from llmguard.cli import app
from llmguard.cli._drift import svg_chart
from llmguard.drift import DriftRow, DriftStore

runner = CliRunner()
TODAY = datetime(2025, 3, 20, tzinfo=UTC)
CONFIG = "[drift]\npermutations = 99\n[[drift.rules]]\nmetric = 'mmd'\nalpha = 0.05\nmin_samples = 40\n"


def _store(path: Path, *, shifted: bool) -> None:
    rng = np.random.default_rng(0)
    store = DriftStore(path)
    for back in range(7, -1, -1):
        day = TODAY - timedelta(days=back)
        shift = np.eye(8)[0] * 3 if shifted and back == 0 else 0
        vectors = rng.normal(size=(60, 8)) + 3 + shift
        start = int(day.timestamp() * 1e9)
        store.write(
            [
                DriftRow(f"{back}-{i}", start + i * 10**6, list(map(float, v)), "bot", "1", ("support",))
                for i, v in enumerate(vectors)
            ]
        )
    store.close()


@pytest.fixture
def shifted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "llmguard.toml").write_text(CONFIG, encoding="utf-8")
    _store(tmp_path / "d.db", shifted=True)
    monkeypatch.setenv("LLMGUARD_DB", str(tmp_path / "d.db"))
    return tmp_path


def test_check_exits_1_on_drift_in_a_real_subprocess(shifted: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "llmguard", "--json", "drift", "check", "--now", "2025-03-20"],
        cwd=shifted,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    (alert,) = json.loads(done.stdout)["alerts"]
    assert (alert["kind"], alert["series"], alert["window"]) == ("drift", "drift_mmd", "2025-03-20")


def test_check_exits_0_without_drift(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "llmguard.toml").write_text(CONFIG, encoding="utf-8")
    _store(tmp_path / "calm.db", shifted=False)
    monkeypatch.setenv("LLMGUARD_DB", str(tmp_path / "calm.db"))
    result = runner.invoke(app, ["drift", "check", "--now", "2025-03-20"])
    assert result.exit_code == 0, result.output
    assert "nothing fired" in result.output


def test_exits_2_on_a_missing_store_or_bad_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMGUARD_DB", str(tmp_path / "none.db"))
    missing = runner.invoke(app, ["drift", "check"])
    assert missing.exit_code == 2
    assert "no drift store" in missing.output
    (tmp_path / "llmguard.toml").write_text("[drift]\nrules = [{metric = 'vibes'}]\n", encoding="utf-8")
    _store(tmp_path / "d.db", shifted=False)
    monkeypatch.setenv("LLMGUARD_DB", str(tmp_path / "d.db"))
    bad = runner.invoke(app, ["drift", "report"])
    assert bad.exit_code == 2
    assert "valid metrics" in bad.output


def test_report_table_json_and_svg(shifted: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    table = runner.invoke(
        app, ["drift", "report", "--days", "3", "--svg", "chart.svg", "--now", "2025-03-20"]
    )
    assert table.exit_code == 0, table.output
    for expected in ("input drift", "prompt=bot", "tag=support", "MMD² per day", "chart written"):
        assert expected in table.output
    svg = (shifted / "chart.svg").read_text(encoding="utf-8")
    assert svg.startswith("<svg")
    assert svg.count("<circle") == 3
    done = runner.invoke(
        app, ["--json", "drift", "report", "--days", "3", "--by", "all", "--now", "2025-03-20"]
    )
    report = json.loads(done.output)
    assert [r["scope"] for r in report["rows"]] == ["all"]
    series = report["series"]
    assert list(series) == ["2025-03-18", "2025-03-19", "2025-03-20"]
    assert series["2025-03-20"]["mmd2"] > max(series["2025-03-18"]["mmd2"], series["2025-03-19"]["mmd2"])


def test_svg_chart_leaves_gaps_for_missing_days() -> None:
    svg = svg_chart(["2025-03-01", "2025-03-02", "2025-03-03"], [0.1, None, 0.3], title="a < b")
    assert svg.count("<polyline") == 2
    assert "a &lt; b" in svg
