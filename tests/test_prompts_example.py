"""The prompts example runs offline and exits 0."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).parents[1] / "examples" / "prompts_demo.py"


def test_prompts_demo_runs() -> None:
    result = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "rolled back production" in result.stdout
    assert "production is protected: support-bot: label 'production' is protected" in result.stdout
    assert "enforce refuses the seed's alias model: gpt-4o" in result.stdout
