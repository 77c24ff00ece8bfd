"""Import and construction time: ``import llmguard`` + ``llmguard.OpenAI()`` against ``import openai`` + ``openai.OpenAI()``.

Each run is a fresh interpreter that times, with ``perf_counter``, the import and the construction of
one client (interpreter start-up excluded); the two variants alternate, and the figure is the median
of ``--runs`` runs each (default 10). The claim: llmguard's median is at most ``--limit-ms`` (default
30) above openai's. Exit status 1 when it is not. Wall time moves with the load of a shared machine;
``--callgrind`` also counts the instructions of one whole process of each (valgrind,
``PYTHONHASHSEED=0``), a figure that does not.

    python benchmarks/startup.py [--runs 10] [--limit-ms 30] [--callgrind]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CODE = """
import json, time
start = time.perf_counter()
import {module}
client = {module}.OpenAI(api_key="bench", base_url="https://bench.invalid/v1")
print(json.dumps({{"ms": (time.perf_counter() - start) * 1000}}))
"""


def once(module: str) -> float:
    """Milliseconds to import ``module`` and construct its ``OpenAI`` client, in a fresh process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMGUARD_", "OTEL_", "OPENAI_"))}
    done = subprocess.run(
        [sys.executable, "-c", CODE.format(module=module)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=env,
    )
    return float(json.loads(done.stdout.strip().splitlines()[-1])["ms"])


def instructions(module: str) -> int:
    """CPU instructions (callgrind) of a whole process that imports ``module`` and constructs a client."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMGUARD_", "OTEL_", "OPENAI_"))}
    env["PYTHONHASHSEED"] = "0"
    with tempfile.TemporaryDirectory() as tmp:
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/out", sys.executable, "-c"]
        done = subprocess.run(
            [*cmd, CODE.format(module=module)], capture_output=True, text=True, check=True, cwd=ROOT, env=env
        )
    match = re.search(r"Collected : (\d+)", done.stderr)
    if match is None:
        raise RuntimeError(f"callgrind printed no total:\n{done.stderr[-2000:]}")
    return int(match.group(1))


def main() -> int:
    """Alternate the two variants, print the medians and say whether the claim holds."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--limit-ms", type=float, default=30.0)
    parser.add_argument("--callgrind", action="store_true", help="also count instructions (valgrind)")
    args = parser.parse_args()
    if args.callgrind:
        counts = {m: instructions(m) for m in ("openai", "llmguard")}
        print("| import + construct | instructions | vs openai |")
        print("|---|---|---|")
        for module, count in counts.items():
            print(f"| {module} | {count:,} | {count / counts['openai']:.3f}x |")
        print()
    times: dict[str, list[float]] = {"openai": [], "llmguard": []}
    for _ in range(args.runs):
        for module in times:
            times[module].append(once(module))
    medians = {m: statistics.median(t) for m, t in times.items()}
    over = medians["llmguard"] - medians["openai"]
    print("| import + construct | median ms | min | max |")
    print("|---|---|---|---|")
    for module, ms in times.items():
        print(f"| {module} | {medians[module]:.1f} | {min(ms):.1f} | {max(ms):.1f} |")
    held = over <= args.limit_ms
    print(
        f"\nllmguard minus openai: {over:+.1f} ms (limit +{args.limit_ms:.0f} ms): {'holds' if held else 'FAILS'}"
    )
    return 0 if held else 1


if __name__ == "__main__":
    sys.exit(main())
