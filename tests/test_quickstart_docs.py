"""docs/quickstart.md shows exactly what ``examples/quickstart.py`` prints, step by step."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "quickstart.md"
TOUR = ROOT / "examples" / "quickstart.py"
COLUMNS = "120"
"""The terminal width the page's output was captured at."""

_VARIABLE = (
    (re.compile(r"\b[0-9a-f]{32}/[0-9a-f]{16}\b"), "<trace>/<span>"),  # trace/span row
    (re.compile(r"\b[0-9a-f]{32}\b"), "<id>"),  # call ids, trace ids
    (re.compile(r"\bcall [0-9a-f]{8}:"), "call <id>:"),  # the end of a call id
    (re.compile(r"\b\d+\.\d ms\b"), "<t> ms"),  # latency
)


def normalise(text: str) -> list[str]:
    """Lines with run-to-run values replaced and table padding collapsed."""
    out = []
    for line in text.splitlines():
        for pattern, placeholder in _VARIABLE:
            line = pattern.sub(placeholder, line)
        out.append(re.sub(r" {2,}", " ", line).rstrip())
    return out


def documented_output() -> list[str]:
    """Every ```text block of the page, in order, as one list of lines."""
    blocks = re.findall(r"^```text\n(.*?)^```$", DOC.read_text(encoding="utf-8"), flags=re.S | re.M)
    return normalise("".join(blocks))


def tour_output(tmp_path: Path) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANTHROPIC_", "LLMGUARD_"))}
    for key in ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "PYTEST_CURRENT_TEST"):
        env.pop(key, None)
    env["COLUMNS"] = COLUMNS
    done = subprocess.run(
        [sys.executable, str(TOUR)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return normalise(done.stdout)


def test_normalise_keeps_what_matters() -> None:
    line = "│ trace/span │ d219eaa87bd2bd34a0e7b290965c0984/9f1d82991b3570f9   │ 0.00000750 │ 13.7 ms │"
    assert normalise(line) == ["│ trace/span │ <trace>/<span> │ 0.00000750 │ <t> ms │"]
    assert normalise("   no_refusal  call 2dfc4441: ok") == [" no_refusal call <id>: ok"]


def test_quickstart_page_matches_the_tour(tmp_path: Path) -> None:
    documented = documented_output()
    printed = tour_output(tmp_path)
    assert documented == printed, "docs/quickstart.md is out of date; update its text blocks from the tour"
    steps = [line for line in printed if re.match(r"\d\. ", line)]
    assert len(steps) == 9
    assert printed[-1].startswith("Done: 4 calls recorded")
