"""Per-call overhead of llmguard and of the tracing libraries users would pick instead, in one run.

Compares, over the same in-memory httpx2 transport (``benchmarks/_worker.handler``): the raw openai
SDK; llmguard (spans + cost + metrics, batch span processor, pin policy enforce); the official
OpenTelemetry instrumentation (``opentelemetry-instrumentation-openai-v2`` and its successor
``opentelemetry-instrumentation-genai-openai``); OpenLLMetry's ``opentelemetry-instrumentation-openai``;
and Langfuse's ``langfuse.openai`` drop-in, offline. Non-streaming and streaming (40 chunks plus the usage
chunk every variant asks for, consumed).

The peers live in benchmark venvs of their own, never in the dev extra or CI: ``.venv-bench`` (llmguard,
the genai successor, OpenLLMetry, Langfuse) and ``.venv-bench-otelv2`` (llmguard and the v2
instrumentation, whose ``opentelemetry-util-genai`` 0.x cannot share a venv with the successor's 1.x).
Both are created on first use (pip, from the package registry: the only network this script uses) and
reused while the pins and pyproject.toml are unchanged. Every variant runs in its own subprocess; each
round runs them in a shuffled order; the figure is the median of the per-round ratios variant/raw.
Wall-clock and process CPU time are both reported; ``--callgrind`` adds CPU instructions per call
(valgrind, (I(120) - I(20)) / 100), which do not move with the load of a shared machine.
The workers refuse all sockets and name lookups; any attempt fails the run. ``--src DIR`` benchmarks
the ``llmguard`` package under DIR (an exported commit, say) instead of the working tree's.

    python benchmarks/peers.py [--rounds 5] [--calls 500] [--callgrind] [--variants ...] [--reinstall]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import venv
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "PEERS.md"

MAIN_VENV = ".venv-bench"
V2_VENV = ".venv-bench-otelv2"
PEER_PINS: dict[str, list[str]] = {
    MAIN_VENV: [
        "opentelemetry-instrumentation-genai-openai==1.3b0",
        "opentelemetry-instrumentation-openai==0.62.4",
        "langfuse==5.0.4",
    ],
    # openai-v2 2.4b0 imports opentelemetry.util.genai.instruments (gone in util-genai 1.x) and
    # httpx (1.x), which openai 3.x no longer pulls in.
    V2_VENV: [
        "opentelemetry-instrumentation-openai-v2==2.4b0",
        "opentelemetry-util-genai==0.4b0",
        "httpx==0.28.1",
    ],
}
VARIANTS: dict[str, str] = {
    "raw": MAIN_VENV,
    "llmguard": MAIN_VENV,
    "otel-openai-v2": V2_VENV,
    "otel-genai-openai": MAIN_VENV,
    "openllmetry": MAIN_VENV,
    "langfuse": MAIN_VENV,
}
LABELS = {
    "raw": "raw openai SDK",
    "llmguard": "llmguard (spans + cost + metrics)",
    "otel-openai-v2": "opentelemetry-instrumentation-openai-v2",
    "otel-genai-openai": "opentelemetry-instrumentation-genai-openai",
    "openllmetry": "OpenLLMetry opentelemetry-instrumentation-openai",
    "langfuse": "langfuse.openai drop-in",
}
PEER_DIST = {
    "llmguard": "llmguard",
    "otel-openai-v2": "opentelemetry-instrumentation-openai-v2",
    "otel-genai-openai": "opentelemetry-instrumentation-genai-openai",
    "openllmetry": "opentelemetry-instrumentation-openai",
    "langfuse": "langfuse",
}


def log(message: str) -> None:
    """Progress on stderr (stdout carries the table)."""
    print(message, file=sys.stderr, flush=True)


def python_of(name: str) -> Path:
    """The interpreter of a benchmark venv."""
    return ROOT / name / "bin" / "python"


def _pins_of_main() -> list[str]:
    """openai and httpx2 exactly as the main benchmark venv has them, for the second venv."""
    code = "from importlib.metadata import version as v; print(v('openai'), v('httpx2'))"
    out = subprocess.run([str(python_of(MAIN_VENV)), "-c", code], capture_output=True, text=True, check=True)
    openai_version, httpx2_version = out.stdout.split()
    return [f"openai=={openai_version}", f"httpx2=={httpx2_version}"]


def ensure_venv(name: str, reinstall: bool) -> str | None:
    """Create or reuse a benchmark venv; the reason it cannot be had, or None."""
    path = ROOT / name
    # The workers build SDK tracer and meter providers whatever llmguard itself depends on.
    extra = ["opentelemetry-sdk", *PEER_PINS[name]] + (_pins_of_main() if name != MAIN_VENV else [])
    stamp_text = json.dumps(
        {"pins": extra, "pyproject": hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()}
    )
    stamp = path / ".llmguard-bench-stamp"
    if not reinstall and stamp.exists() and stamp.read_text() == stamp_text and python_of(name).exists():
        return None
    log(f"installing {name}: llmguard (editable) + {' '.join(extra)}")
    if not python_of(name).exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(path)
    cmd = [str(python_of(name)), "-m", "pip", "install", "-q", "-e", str(ROOT), *extra]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        tail = [line for line in done.stderr.splitlines() if "ERROR" in line] or done.stderr.splitlines()
        return f"pip install failed: {tail[-1] if tail else done.returncode}"
    stamp.write_text(stamp_text)
    return None


SRC: list[Path] = []
"""Set by ``--src``: a directory holding the ``llmguard`` package to benchmark instead of the tree's."""


def _env() -> dict[str, str]:
    prefixes = ("LLMGUARD_", "OTEL_", "OPENAI_", "LANGFUSE_", "TRACELOOP_", "VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env["PYTHONHASHSEED"] = "0"
    env["PYTHONPATH"] = os.pathsep.join([*(str(p) for p in SRC), str(ROOT)])
    return env


def run_worker(variant: str, *args: str) -> dict[str, Any]:
    """Run the worker for one variant in its venv and return its JSON line."""
    cmd = [str(python_of(VARIANTS[variant])), "-m", "benchmarks._peer_worker", "--variant", variant, *args]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=_env(), timeout=900)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = done.stderr.strip().splitlines()
        raise RuntimeError(f"{variant}: exit {done.returncode}: {tail[-1] if tail else 'no output'}")
    result: dict[str, Any] = json.loads(lines[-1])
    if result.get("network_attempts"):
        raise RuntimeError(f"{variant} tried the network: {result['network_attempts'][:3]}")
    return result


def probe(variant: str) -> tuple[dict[str, Any] | None, str | None]:
    """What the variant's spans carry, non-streaming and streaming; or the reason it does not work."""
    found: dict[str, Any] = {}
    for stream in (False, True):
        try:
            got = run_worker(variant, "--probe", *(["--stream"] if stream else []))
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            return None, str(exc).splitlines()[-1][:160]
        if variant != "raw" and got.get("spans_per_call") != 1.0:
            return None, f"{got.get('spans_per_call', 0)} spans per call (expected 1) on openai 3.x"
        found["stream" if stream else "non-stream"] = got
    return found, None


def load() -> float:
    """The 1-minute load average."""
    return os.getloadavg()[0]


def measure(
    variants: list[str], rounds: int, calls: int, warmup: int, stream: bool, loads: list[float]
) -> dict[str, dict[str, float]]:
    """Median µs per call (wall clock and process CPU) and median per-round ratios against raw."""
    keys = {"us": "us_per_call", "cpu": "cpu_us_per_call"}
    times: dict[str, dict[str, list[float]]] = {v: {k: [] for k in keys} for v in variants}
    ratios: dict[str, dict[str, list[float]]] = {v: {k: [] for k in keys} for v in variants}
    for number in range(1, rounds + 1):
        order = variants[:]
        random.shuffle(order)
        loads.append(load())
        args = ["--calls", str(calls), "--warmup", str(warmup)] + (["--stream"] if stream else [])
        got = {v: run_worker(v, *args) for v in order}
        loads.append(load())
        for v in variants:
            for key, field in keys.items():
                times[v][key].append(float(got[v][field]))
                ratios[v][key].append(float(got[v][field]) / float(got["raw"][field]))
        summary = " ".join(
            f"{v}={got[v]['us_per_call']:.0f}/{got[v]['cpu_us_per_call']:.0f}" for v in variants
        )
        log(
            f"{'stream' if stream else 'non-stream'} round {number}/{rounds} "
            f"(load {loads[-2]:.2f}->{loads[-1]:.2f}) wall/cpu µs: {summary}"
        )
    out: dict[str, dict[str, float]] = {}
    for v in variants:
        row: dict[str, float] = {}
        for key in keys:
            row[key] = statistics.median(times[v][key])
            row[f"{key}_ratio"] = statistics.median(ratios[v][key])
            row[f"{key}_min"] = min(ratios[v][key])
            row[f"{key}_max"] = max(ratios[v][key])
        out[v] = row
    return out


def instructions(variant: str, calls: int, stream: bool) -> int:
    """Total CPU instructions (callgrind, all threads) of one worker run of ``calls`` calls."""
    with tempfile.TemporaryDirectory() as tmp:
        out_file = Path(tmp) / "callgrind.out"
        cmd = [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out_file}",
            str(python_of(VARIANTS[variant])),
            "-m",
            "benchmarks._peer_worker",
            "--variant",
            variant,
            "--calls",
            str(calls),
            "--warmup",
            "20",
        ] + (["--stream"] if stream else [])
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=_env(), timeout=1800)
        match = re.search(r"Collected : (\d+)", done.stderr)
        if done.returncode != 0 or match is None:
            raise RuntimeError(f"callgrind run of {variant} failed:\n{done.stderr[-2000:]}")
        return int(match.group(1))


def per_call_instructions(variant: str, stream: bool, n1: int, n2: int) -> float:
    """Instructions per call: (I(N2) - I(N1)) / (N2 - N1)."""
    return (instructions(variant, n2, stream) - instructions(variant, n1, stream)) / (n2 - n1)


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _revision(src: Path | None) -> str:
    """Which llmguard code ran: the commit, and whether the tree had local changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown revision"
    if src is not None:
        return f"the package under `{src}` (tree at {head})"
    return f"commit {head}" + (" with uncommitted changes under src/" if dirty else "")


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def render(
    args: argparse.Namespace,
    results: dict[str, dict[str, dict[str, float]]],
    probes: dict[str, dict[str, Any]],
    missing: dict[str, str],
    loads: list[float],
) -> str:
    """The Markdown report."""
    variants = [v for v in VARIANTS if v in results["non-stream"] or v in missing]
    with_instr = "instr" in results["non-stream"].get("raw", {})
    versions: dict[str, str] = {}
    seen: dict[str, set[str]] = {}
    for found in probes.values():
        versions.update(found["non-stream"]["versions"])
        for dist, version in found["non-stream"]["versions"].items():
            seen.setdefault(dist, set()).add(version)
    for v, found in probes.items():  # the version each variant itself ran on
        if v in PEER_DIST:
            versions[PEER_DIST[v]] = found["non-stream"]["versions"][PEER_DIST[v]]
    lines = [
        "# llmguard against the peers: per-call overhead",
        "",
        f"Run on {dt.date.today().isoformat()} with `python benchmarks/peers.py --rounds {args.rounds} "
        f"--calls {args.calls}{' --callgrind' if args.callgrind else ''}` ({args.warmup} warm-up calls per process).",
        "",
        f"Machine: {os.cpu_count()} cores ({_cpu()}), shared; 1-minute load average during the run "
        f"{min(loads, default=0):.2f}-{max(loads, default=0):.2f}. Python {platform.python_version()}. "
        f"llmguard: {_revision(args.src)}.",
        "",
        "Every variant runs in its own process over the same in-memory httpx2 transport (no network: the "
        "workers refuse all sockets), in a shuffled order each round; the ratio is the median of the "
        "per-round ratios against the raw SDK (min-max across rounds in brackets). Wall is elapsed time; CPU is the CPU time of the worker process over the timed calls, all its threads (so the batch span processor's export thread counts) -- the figure that moves least with the load of a shared machine. Every instrumented "
        "variant exports through an SDK `TracerProvider` + `BatchSpanProcessor` to an exporter that drops "
        "the spans, with an SDK `MeterProvider` where the library takes one; otherwise each library keeps "
        "its defaults. Streams are consumed to the end.",
        "",
        "| mode | variant | version | wall µs/call | wall ratio vs raw | CPU µs/call | CPU ratio vs raw "
        + ("| instr/call | instr ratio " if with_instr else "")
        + "| usage on span | cost on span | content recorded by default |",
        "|---|---|---|---|---|---|---|" + ("---|---|" if with_instr else "") + "---|---|---|",
    ]
    for mode in ("non-stream", "stream"):
        for v in variants:
            version = versions.get(PEER_DIST[v], "?") if v in PEER_DIST else versions.get("openai", "?")
            if v in missing:
                lines.append(
                    f"| {mode} | {LABELS[v]} | {version} | n/a ({missing[v]}) | n/a | n/a | n/a | | | |"
                )
                continue
            row = results[mode][v]
            wall = f"{row['us_ratio']:.3f}x ({row['us_min']:.2f}-{row['us_max']:.2f})"
            cpu = f"{row['cpu_ratio']:.3f}x ({row['cpu_min']:.2f}-{row['cpu_max']:.2f})"
            timing = f"{row['us']:.0f} | {wall} | {row['cpu']:.0f} | {cpu}"
            if "instr" in row:
                timing += f" | {row['instr']:,.0f} | {row['instr_ratio']:.3f}x"
            if v == "raw":
                lines.append(f"| {mode} | {LABELS[v]} | {version} | {timing} | - | - | - |")
                continue
            found = probes[v][mode]
            lines.append(
                f"| {mode} | {LABELS[v]} | {version} | {timing} | {_yes(found['usage'])} "
                f"| {_yes(found['cost'])} | {_yes(found['content'])} |"
            )
    lines += [
        "",
        "Versions: " + ", ".join(f"{k} {' / '.join(sorted(v))}" for k, v in sorted(seen.items())) + ".",
        "",
        "Notes:",
        "",
        "- Streams: 40 chunks, and every variant (raw included) asks for the usage chunk itself "
        "(`stream_options.include_usage`), so all parse the same 41 chunks and llmguard injects nothing. "
        "Cost is llmguard's alone (Langfuse prices on its server).",
        "- OpenLLMetry and Langfuse record prompts and completions on the span by default; the OpenTelemetry "
        "instrumentations and llmguard do not. OpenLLMetry also injects a `traceparent` header by default.",
        "- Langfuse runs offline: dummy keys, base URL `http://127.0.0.1:9` (never contacted), and its own "
        "batch span processor over the dropping exporter in place of its OTLP exporter.",
        "- `opentelemetry-instrumentation-openai-v2` 2.4b0 needs `opentelemetry-util-genai` 0.x and `httpx` "
        "1.x (openai 3.x uses httpx2 and no longer installs httpx); it runs in `.venv-bench-otelv2`, with the "
        "same openai and httpx2 versions as `.venv-bench`. Its successor needs `opentelemetry-util-genai` 1.x.",
    ]
    for v, reason in missing.items():
        lines.append(f"- {LABELS[v]}: not measured, {reason}.")
    return "\n".join(lines) + "\n"


def main() -> int:
    """Install (or reuse) the benchmark venvs, probe, measure, print and write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument(
        "--callgrind",
        action="store_true",
        help="also count CPU instructions per call with valgrind (load-independent; about an hour on 2 cores)",
    )
    parser.add_argument("--reinstall", action="store_true", help="reinstall the benchmark venvs")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument(
        "--src",
        type=Path,
        help="directory whose llmguard/ package is benchmarked instead of src/ (e.g. an exported commit)",
    )
    args = parser.parse_args()
    if args.src is not None:
        SRC.append(args.src.resolve())
    wanted = [v for v in VARIANTS if v in args.variants.split(",") or v == "raw"]

    missing: dict[str, str] = {}
    for name in dict.fromkeys(VARIANTS[v] for v in wanted):
        reason = ensure_venv(name, args.reinstall)
        if reason is not None:
            if name == MAIN_VENV:
                raise SystemExit(f"{MAIN_VENV}: {reason}")
            missing.update({v: reason for v in wanted if VARIANTS[v] == name})

    probes: dict[str, dict[str, Any]] = {}
    for v in wanted:
        if v in missing:
            continue
        found, reason = probe(v)
        if found is None:
            missing[v] = reason or "did not run"
            log(f"{v}: n/a ({missing[v]})")
            continue
        probes[v] = found
    if "raw" in missing:
        raise SystemExit(f"raw SDK does not run: {missing['raw']}")

    measured = [v for v in wanted if v not in missing]
    loads: list[float] = []
    results = {
        mode: measure(measured, args.rounds, args.calls, args.warmup, mode == "stream", loads)
        for mode in ("non-stream", "stream")
    }
    if args.callgrind and shutil.which("valgrind"):
        for mode in results:
            for v in measured:
                log(f"callgrind: {mode} {v}")
                results[mode][v]["instr"] = per_call_instructions(v, mode == "stream", 20, 120)
            for v in measured:
                results[mode][v]["instr_ratio"] = results[mode][v]["instr"] / results[mode]["raw"]["instr"]
    report = render(args, results, probes, missing, loads)
    print(report)
    args.out.write_text(report)
    log(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
