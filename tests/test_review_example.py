"""The review-loop example runs the whole loop offline, and the nightly workflow example is valid."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_review_loop_runs_every_step(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "review_loop.py")],
        capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    queued = re.search(r"review queue (\d+) calls by reason (\{.*\})", out)
    assert queued is not None, out
    assert "negative_feedback" in queued.group(2)
    assert "judge" in queued.group(2)
    labels = re.search(r"review: (\d+) labels on (\d+) calls", out)
    assert labels is not None
    assert int(labels.group(1)) == 2 * int(labels.group(2)) == 2 * int(queued.group(1))
    assert re.search(r"calibrate: judge helpfulness kappa -?\d\.\d\d \[", out), out
    assert "applied 1 reviewed case(s)" in out
    assert re.search(r"eval over traffic: \d+ inputs, eval_score \d\.\d\d, gate passed", out), out


def test_nightly_workflow_runs_the_traffic_eval() -> None:
    text = (EXAMPLES / "nightly-eval.yml").read_text(encoding="utf-8")
    workflow = yaml.safe_load(text)
    assert workflow[True]["schedule"][0]["cron"] == "15 3 * * *"  # YAML 1.1 reads the key `on` as True
    steps = " ".join(str(step.get("run", "")) for step in workflow["jobs"]["traffic-eval"]["steps"])
    assert "eval run" in steps
    assert "--traffic 7d --sample 200" in steps
    assert "eval refresh" in steps
    assert re.search(r"^#\s+15 3 \* \* \*\s+.*--traffic 7d --sample 200", text, re.MULTILINE)
