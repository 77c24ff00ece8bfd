#!/usr/bin/env python3
"""The SDK version matrix: llmguard's interception, telemetry and pin tests on older SDK releases.

Each cell is one venv (``.venv-matrix/<cell>``) holding one openai and one anthropic release; the
rest of the environment comes from the lock (``requirements/dev.lock``), so a cell differs from
``make test`` only by its SDKs (and the HTTP libraries they need). A cell runs the test files in
``TESTS`` and ``compat/smoke.py`` (5 calls per SDK, each one record with usage).

``--latest`` instead builds ``.venv-latest`` with the newest openai and anthropic releases (the lock
ignored for them) and runs the whole suite there, then ``compat/run.py`` at those releases: a release
that breaks the drop-in shows up in CI the day it ships, while ``make test`` stays on the lock. When
the newest releases are the locked ones, ``make test`` and ``make compat`` already ran them, and it
says so and stops (``--force`` runs anyway).

Standard library only. Usage::

    python compat/matrix.py                 # every cell (make test-min)
    python compat/matrix.py --cell openai-1.40  # cells whose name contains the text
    python compat/matrix.py --latest        # the newest releases, whole suite (make test-latest)
    python compat/matrix.py --latest --force  # the same even when the newest releases are locked

Exit status: 0 every cell passed, 1 a cell failed, 2 a cell could not be installed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements" / "dev.lock"
MATRIX = ROOT / ".venv-matrix"

# One cell per SDK pair; openai 1.40 and 1.50 pass ``proxies=`` to httpx, which httpx 0.28 removed.
CELLS: dict[str, list[str]] = {
    "openai-1.40+anthropic-0.43": ["openai==1.40.0", "anthropic==0.43.0", "httpx<0.28"],
    "openai-1.76+anthropic-0.125": ["openai==1.76.0", "anthropic==0.125.0"],
    "openai-2.46+anthropic-1.13": ["openai==2.46.0", "anthropic==1.13.0"],
    "openai-2.54+anthropic-1.14": ["openai==2.54.0", "anthropic==1.14.0"],
    "openai-3.0+anthropic-locked": ["openai==3.0.0"],
}
TESTS = [
    "tests/test_intercept.py",
    "tests/test_telemetry_spans.py",
    "tests/test_telemetry_content.py",
    "tests/test_telemetry_metrics.py",
    "tests/test_telemetry_global.py",
    "tests/test_pins.py",
    "tests/test_lock.py",
]
# What a cell installs besides llmguard: the test runner and what the selected tests import.
TOOLS = ["pytest", "pytest-timeout", "hypothesis", "anyio"]
# Left out of the lock's constraints in a cell: the SDKs and the HTTP stacks their releases choose.
UNLOCKED = {"openai", "anthropic", "httpx", "httpcore", "httpx2", "httpcore2", "h11"}


def _name(requirement: str) -> str:
    return re.split(r"[=<>!~\[; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def constraints(free: set[str]) -> Path:
    """The lock without the packages in ``free``, as a constraints file."""
    lines = [line for line in LOCK.read_text().splitlines() if line and not line.startswith("#")]
    kept = [line for line in lines if _name(line) not in free]
    path = MATRIX / f"constraints-{hashlib.sha256(repr(sorted(free)).encode()).hexdigest()[:8]}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(kept) + "\n")
    return path


def run(cmd: list[str], log: Path) -> int:
    with log.open("a") as out:
        out.write(f"$ {' '.join(cmd)}\n")
        out.flush()
        return subprocess.call(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)


def ensure_venv(venv: Path, specs: list[str], extra: str, upgrade: bool, log: Path) -> bool:
    """Create ``venv`` with llmguard (editable), ``specs`` and the lock for everything else."""
    cons = constraints(UNLOCKED)
    stamp_data = [specs, extra, cons.read_text(), (ROOT / "pyproject.toml").read_text(), sys.version]
    stamp = hashlib.sha256(json.dumps(stamp_data).encode()).hexdigest()
    stamp_file = venv / ".stamp"
    if not upgrade and stamp_file.exists() and stamp_file.read_text() == stamp:
        return True
    py = str(venv / "bin" / "python")
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(venv)],
        [py, "-m", "pip", "install", "-q", "-c", str(cons), "pip", "hatchling", "editables"],
        [py, "-m", "pip", "install", "-q", "-c", str(cons), "--no-build-isolation"]
        + (["--upgrade", "--upgrade-strategy", "only-if-needed"] if upgrade else [])
        + ["-e", f".{extra}", *specs],
    ]
    for step in steps:
        if run(step, log) != 0:
            return False
    stamp_file.write_text(stamp)
    return True


def versions(venv: Path) -> str:
    code = (
        "import openai, anthropic; print(f'openai {openai.__version__}, anthropic {anthropic.__version__}')"
    )
    out = subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True)
    return out.stdout.strip() or out.stderr.strip().splitlines()[-1]


def run_cell(name: str, venv: Path, specs: list[str], tests: list[str], upgrade: bool = False) -> int:
    log = MATRIX / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("")
    started = time.monotonic()
    # The newest releases get the whole dev extra (the whole suite runs); a cell only its test tools.
    if not ensure_venv(venv, [*specs, *TOOLS], "[dev]" if upgrade else "", upgrade, log):
        print(f"[{name}] install failed; see {log.relative_to(ROOT)}", flush=True)
        print(
            "\n".join(line for line in log.read_text().splitlines() if "WARNING: Location" not in line)[
                -3000:
            ]
        )
        return 2
    py = str(venv / "bin" / "python")
    pytest_rc = run([py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow", *tests], log)
    smoke_rc = run([py, "compat/smoke.py"], log)
    text = "\n".join(
        line for line in log.read_text().splitlines() if not line.startswith("WARNING: Location")
    )
    summary = [line for line in text.splitlines() if re.search(r"\b(passed|failed|error)\b", line)][-1:]
    smoke = [line for line in text.splitlines() if line.startswith(("smoke ", "  FAILED"))]
    ok = pytest_rc == 0 and smoke_rc == 0
    print(
        f"[{name}] {versions(venv)}: {'ok' if ok else 'FAILED'} in {time.monotonic() - started:.0f} s",
        flush=True,
    )
    for line in summary + smoke:
        print(f"    {line.strip()}")
    if not ok:
        print(text[-6000:])
    return 0 if ok else 1


def locked(name: str) -> str:
    return next(line.split("==")[1] for line in LOCK.read_text().splitlines() if _name(line) == name)


def newest(name: str) -> str | None:
    """The newest release of ``name`` on the package index (``pip index versions``), or None."""
    cmd = [sys.executable, "-m", "pip", "index", "versions", name, "--disable-pip-version-check"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    found = re.search(rf"^{re.escape(name)} \(([^)]+)\)", out.stdout, re.MULTILINE)
    return found.group(1) if found else None


def run_latest(force: bool) -> int:
    """The whole suite and the SDKs' own suites on the newest releases, when those are not the locked ones.

    When they are, ``make test`` and ``make compat`` have just run them, and this says so.
    """
    latest = {sdk: newest(sdk) for sdk in ("openai", "anthropic")}
    if not force and all(latest[sdk] == locked(sdk) for sdk in latest):
        print(
            f"[latest] the newest releases are the locked ones ({latest}): make test and make compat cover them"
        )
        return 0
    venv = ROOT / ".venv-latest"
    rc = run_cell("latest", venv, ["openai", "anthropic"], [], upgrade=True)
    if rc == 2:
        return rc
    code = "import openai, anthropic; print(openai.__version__, anthropic.__version__)"
    installed = subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True)
    openai_v, anthropic_v = installed.stdout.split()
    compat = [
        sys.executable,
        "compat/run.py",
        "--openai-version",
        openai_v,
        "--anthropic-version",
        anthropic_v,
    ]
    print(f"[latest] $ {' '.join(compat[1:])}", flush=True)
    return max(rc, subprocess.call(compat, cwd=ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cell", default="", help="run the cells whose name contains this text")
    parser.add_argument("--latest", action="store_true", help="the newest SDK releases, whole suite")
    parser.add_argument("--force", action="store_true", help="with --latest: run even when they are locked")
    args = parser.parse_args()
    if args.latest:
        return run_latest(args.force)
    results = [
        run_cell(name, MATRIX / name, specs, TESTS) for name, specs in CELLS.items() if args.cell in name
    ]
    if not results:
        print(f"no cell matches {args.cell!r}; cells: {', '.join(CELLS)}")
        return 2
    return max(results)


if __name__ == "__main__":
    sys.exit(main())
