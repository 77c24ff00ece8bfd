"""Per-call overhead of llmguard against the raw openai SDK, measured in the same run.

Every variant runs in its own subprocess over the same in-memory httpx2 transport; rounds are
interleaved (variant order shuffled per round) and the reported figure is the median of the
per-round ratios variant/raw, non-streaming and streaming (40 chunks plus the usage chunk every
variant asks for itself). With ``--callgrind`` it also counts CPU instructions per call with
valgrind (difference of an N1-call and an N2-call run, divided by N2-N1, PYTHONHASHSEED=0; N1=20,
N2=80 unless ``--n1``/``--n2`` say otherwise), a figure that does not move with machine load;
``--callgrind-only`` skips the wall-clock rounds and ``--jobs`` runs that many valgrind processes
at once.

    python benchmarks/overhead.py [--rounds 7] [--calls 2000] [--callgrind] [--variants raw,llmguard-pins]

Opt-in variant ``llmguard-drift`` (pins off, input drift sampling 5% of calls and embedding them in
the background; needs ``llmguard[drift]``): ``--variants raw,llmguard-off,llmguard-drift``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKER = [sys.executable, "-m", "benchmarks._worker"]
DEFAULT_VARIANTS = ("raw", "llmguard-off", "llmguard-pins", "llmguard-telemetry", "llmguard-all")
N1, N2 = 20, 80
"""Calls in the short and the long callgrind run."""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMGUARD_", "OTEL_", "OPENAI_"))}
    env["PYTHONHASHSEED"] = "0"
    env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{env.get('PYTHONPATH', '')}"
    return env


def run_worker(variant: str, calls: int, stream: bool) -> float:
    """Microseconds per call of one variant, measured in a fresh process."""
    cmd = [*WORKER, "--variant", variant, "--calls", str(calls)] + (["--stream"] if stream else [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT, env=_env())
    return float(json.loads(out.stdout.strip().splitlines()[-1])["us_per_call"])


def wall_clock(variants: list[str], rounds: int, calls: int, stream: bool) -> dict[str, dict[str, float]]:
    """Median per-call time and median per-round ratio against raw, for each variant."""
    times: dict[str, list[float]] = {v: [] for v in variants}
    ratios: dict[str, list[float]] = {v: [] for v in variants}
    for _ in range(rounds):
        order = variants[:]
        random.shuffle(order)
        got = {variant: run_worker(variant, calls, stream) for variant in order}
        for variant in variants:
            times[variant].append(got[variant])
            ratios[variant].append(got[variant] / got["raw"])
    return {v: {"us": statistics.median(times[v]), "ratio": statistics.median(ratios[v])} for v in variants}


def instructions(variant: str, calls: int, stream: bool) -> int:
    """Total instructions (callgrind) of one worker run with ``calls`` calls and no warm-up."""
    with tempfile.TemporaryDirectory() as tmp:
        out_file = Path(tmp) / "callgrind.out"
        cmd = [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out_file}",
            *WORKER,
            "--variant",
            variant,
            "--calls",
            str(calls),
            "--warmup",
            "20",
        ] + (["--stream"] if stream else [])
        done = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT, env=_env())
        match = re.search(r"Collected : (\d+)", done.stderr)
        if match is None:
            raise RuntimeError(f"callgrind printed no total:\n{done.stderr[-2000:]}")
        return int(match.group(1))


def per_call_instructions(variant: str, stream: bool, n1: int = N1, n2: int = N2) -> float:
    """Instructions per call: (I(N2) - I(N1)) / (N2 - N1)."""
    return (instructions(variant, n2, stream) - instructions(variant, n1, stream)) / (n2 - n1)


def all_instructions(variants: list[str], n1: int, n2: int, jobs: int) -> dict[tuple[str, bool], float]:
    """Instructions per call of every (variant, stream) pair, ``jobs`` valgrind runs at a time."""
    runs = [(v, stream, n) for stream in (False, True) for v in variants for n in (n1, n2)]
    with ThreadPoolExecutor(max_workers=max(jobs, 1)) as pool:
        totals = dict(
            zip(runs, pool.map(lambda run: instructions(run[0], run[2], run[1]), runs), strict=True)
        )
    return {
        (v, stream): (totals[(v, stream, n2)] - totals[(v, stream, n1)]) / (n2 - n1)
        for stream in (False, True)
        for v in variants
    }


def main() -> int:
    """Run the benchmark and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--variants", default=",".join(DEFAULT_VARIANTS))
    parser.add_argument(
        "--callgrind", action="store_true", help="also count instructions per call with valgrind"
    )
    parser.add_argument(
        "--callgrind-only", action="store_true", help="instructions only, no wall-clock rounds"
    )
    parser.add_argument("--n1", type=int, default=N1)
    parser.add_argument("--n2", type=int, default=N2)
    parser.add_argument("--jobs", type=int, default=1, help="valgrind processes at once")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    variants = [v for v in args.variants.split(",") if v]
    if "raw" not in variants:
        variants.insert(0, "raw")
    results: dict[str, dict[str, dict[str, float]]] = {}
    for stream in (False, True):
        mode = "stream" if stream else "non-stream"
        if args.callgrind_only:
            results[mode] = {v: {"us": float("nan"), "ratio": float("nan")} for v in variants}
        else:
            results[mode] = wall_clock(variants, args.rounds, args.calls, stream)
    if (args.callgrind or args.callgrind_only) and shutil.which("valgrind"):
        counts = all_instructions(variants, args.n1, args.n2, args.jobs)
        for stream in (False, True):
            mode = "stream" if stream else "non-stream"
            raw = counts[("raw", stream)]
            for variant in variants:
                results[mode][variant]["instructions"] = counts[(variant, stream)]
                results[mode][variant]["instr_ratio"] = counts[(variant, stream)] / raw
                results[mode][variant]["instr_over_raw"] = counts[(variant, stream)] - raw
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(
        f"rounds={args.rounds} calls/round={args.calls} n1={args.n1} n2={args.n2} "
        f"python={sys.version.split()[0]}\n"
    )
    print(
        "| mode | variant | µs/call (median) | ratio vs raw (median of rounds) | instr/call | instr ratio |"
    )
    print("|---|---|---|---|---|---|")
    for mode, by_variant in results.items():
        for variant, row in by_variant.items():
            instr = f"{row['instructions']:,.0f}" if "instructions" in row else "-"
            iratio = f"{row['instr_ratio']:.3f}x" if "instr_ratio" in row else "-"
            print(f"| {mode} | {variant} | {row['us']:.1f} | {row['ratio']:.3f}x | {instr} | {iratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
