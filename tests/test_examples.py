"""Every example runs offline: exit 0 within 60 s with no network at all (not even loopback)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).parents[1] / "examples").glob("*.py"))

NO_NETWORK = """
import socket

def _refuse(self, address, *args, **kwargs):
    raise OSError(f"example tried to open a network connection to {address!r}")

socket.socket.connect = _refuse
socket.socket.connect_ex = _refuse
socket.create_connection = lambda address, *a, **k: _refuse(None, address)
"""


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs_offline(example: Path, tmp_path: Path) -> None:
    (tmp_path / "sitecustomize.py").write_text(NO_NETWORK, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANTHROPIC_", "LLMGUARD_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")])
    env.pop("PYTEST_CURRENT_TEST", None)
    done = subprocess.run(
        [sys.executable, str(example)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, (
        f"{example.name} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    assert "Traceback" not in done.stderr


def test_quickstart_shows_every_capability(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANTHROPIC_", "LLMGUARD_"))}
    env["COLUMNS"] = "200"
    done = subprocess.run(
        [sys.executable, str(EXAMPLES[0].parent / "quickstart.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    out = done.stdout
    for expected in (
        "UnpinnedModelError: model 'gpt-4o-mini' is a floating alias",
        "gpt-4o -> gpt-4o-2024-08-06",
        "rewrite",
        "streamed:",
        "span 'chat gpt-4o-mini-2024-07-18'",
        "support-bot@2.1.0",
        "no_refusal",
        "stored: thumbs=True",
        "ledger rows written: 4",
    ):
        assert expected in out, f"missing {expected!r} in:\n{out}"
