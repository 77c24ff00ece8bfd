"""``examples/guarded_rollout.py`` end to end: the worse prompt rolls back with an alert, the model change completes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "guarded_rollout.py"


def test_the_guarded_rollout_example(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANTHROPIC_", "LLMGUARD_"))}
    env.pop("PYTEST_CURRENT_TEST", None)
    done = subprocess.run(
        [sys.executable, str(EXAMPLE)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    out = done.stdout
    assert "rollback ->   0% candidate (rolled_back)" in out
    assert "alert: rollout of support-bot 1.1.0 on 'production' rolled back to 1.0.0 at 10%" in out
    assert "candidate 1.1.1: gpt-4.1-mini-2025-04-14" in out
    assert "complete -> 100% candidate (completed)" in out
    assert "production -> 1.1.1" in out
    actions = [line.split()[1] for line in out.splitlines() if line.strip().startswith("audit:")]
    assert actions == ["start", "rollback", "start", "advance", "complete"]
