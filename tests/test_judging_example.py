"""The judging example runs offline and exits 0."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "judging_demo.py"


def test_judging_demo_runs() -> None:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=90, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "judgments: sampled=600" in proc.stdout
    assert "an LLM judgment: score 4.0" in proc.stdout
