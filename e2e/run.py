"""`make test-e2e`: llmguard's spans exported over OTLP/HTTP to a real Arize Phoenix, read back via its API.

Stdlib only; run it with the dev venv's python (``.venv/bin/python e2e/run.py``). It

1. creates (or reuses) ``.venv-phoenix`` with a pinned ``arize-phoenix``, apart from the dev venv so
   Phoenix's pins never move it;
2. starts ``phoenix serve`` bound to 127.0.0.1 on free ports, in a temporary working directory (a fresh
   SQLite database), with Phoenix's own telemetry and internet access turned off;
3. waits (bounded) until it answers, printing its log if it does not;
4. runs ``e2e/test_phoenix.py`` with the dev venv's pytest, the server's URL in ``LLMGUARD_E2E_PHOENIX_URL``;
5. always stops the server.

It exits non-zero on any failure, "the backend did not start" included: it never skips.
Arguments after ``--`` go to pytest. ``--serve`` starts the server and waits for Ctrl-C instead.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-phoenix"
PHOENIX_SPEC = "arize-phoenix==20.26.1"
"""The Phoenix release this suite was written against; bump it together with the REST calls in the test."""
STAMP = VENV / ".installed"
START_TIMEOUT_S = float(os.environ.get("LLMGUARD_E2E_START_TIMEOUT", "120"))
STOP_TIMEOUT_S = 15.0
URL_ENV = "LLMGUARD_E2E_PHOENIX_URL"

# Phoenix makes no public-internet request of its own with these, and serves only what the test needs.
PHOENIX_ENV = {
    "PHOENIX_TELEMETRY_ENABLED": "false",
    "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",
    "PHOENIX_DISABLE_AGENT_ASSISTANT": "true",
    "PHOENIX_AGENTS_DISABLE_WEB_ACCESS": "true",
    "PHOENIX_AGENTS_DISABLE_BASH": "true",
    "PHOENIX_AGENTS_DISABLE_GITHUB": "true",
    "PHOENIX_ENABLE_MCP_SERVER": "false",
    "PHOENIX_ENABLE_PROMETHEUS": "false",
    "PHOENIX_LOG_MIGRATIONS": "false",
}


def log(message: str) -> None:
    """Print one progress line."""
    print(f"[e2e] {message}", flush=True)


def ensure_venv() -> Path:
    """The ``phoenix`` executable of ``.venv-phoenix``, installing the pinned release if needed."""
    phoenix = VENV / "bin" / "phoenix"
    if phoenix.exists() and STAMP.exists() and STAMP.read_text().strip() == PHOENIX_SPEC:
        log(f"reusing {VENV.relative_to(ROOT)} ({PHOENIX_SPEC})")
        return phoenix
    started = time.monotonic()
    log(f"installing {PHOENIX_SPEC} into {VENV.relative_to(ROOT)} (about 850 MB, a few minutes)")
    shutil.rmtree(VENV, ignore_errors=True)
    base_python = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base_python, "-m", "venv", str(VENV)], check=True)
    python = str(VENV / "bin" / "python")
    subprocess.run([python, "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
    subprocess.run([python, "-m", "pip", "install", "-q", PHOENIX_SPEC], check=True)
    if not phoenix.exists():
        raise SystemExit(f"[e2e] {PHOENIX_SPEC} installed no `phoenix` executable")
    STAMP.write_text(PHOENIX_SPEC + "\n")
    log(f"installed in {time.monotonic() - started:.0f} s")
    return phoenix


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(workdir: Path, port: int, grpc_port: int) -> dict[str, str]:
    """The server's environment: ours without PHOENIX_*/OTEL_* settings, plus the test's."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PHOENIX_", "OTEL_", "VIRTUAL_ENV", "PYTHONPATH"))
    }
    env.update(PHOENIX_ENV)
    env.update(
        PHOENIX_HOST="127.0.0.1",
        PHOENIX_PORT=str(port),
        PHOENIX_GRPC_PORT=str(grpc_port),
        PHOENIX_WORKING_DIR=str(workdir),
    )
    return env


def answers(url: str) -> bool:
    """Phoenix's health check answers 200."""
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, OSError):
        return False


def tail(path: Path, lines: int = 80) -> str:
    """The last ``lines`` lines of a log file."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no log: {exc})"
    return "\n".join(text.splitlines()[-lines:])


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group, then SIGKILL it if it lingers."""
    if process.poll() is not None:
        return
    for sig, wait_s in ((signal.SIGTERM, STOP_TIMEOUT_S), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def phoenix_server(phoenix: Path) -> Iterator[tuple[str, Path]]:
    """Start ``phoenix serve`` on loopback; yield its base URL and log path; always stop it."""
    with tempfile.TemporaryDirectory(prefix="llmguard-e2e-phoenix-") as tmp:
        workdir = Path(tmp) / "phoenix"
        workdir.mkdir()
        log_path = Path(tmp) / "phoenix.log"
        port, grpc_port = free_port(), free_port()
        while grpc_port == port:
            grpc_port = free_port()
        url = f"http://127.0.0.1:{port}"
        started = time.monotonic()
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                [str(phoenix), "serve"],
                cwd=tmp,
                env=server_env(workdir, port, grpc_port),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            while not answers(url):
                if process.poll() is not None:
                    raise SystemExit(
                        f"[e2e] FAILED: Phoenix exited with status {process.returncode} before it "
                        f"answered.\n--- phoenix log ---\n{tail(log_path)}"
                    )
                if time.monotonic() - started > START_TIMEOUT_S:
                    raise SystemExit(
                        f"[e2e] FAILED: Phoenix did not answer on {url} within {START_TIMEOUT_S:.0f} s."
                        f"\n--- phoenix log ---\n{tail(log_path)}"
                    )
                time.sleep(0.5)
            log(f"Phoenix up on {url} after {time.monotonic() - started:.1f} s")
            yield url, log_path
        finally:
            stop(process)


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    """Install, start, test, stop; the exit status is pytest's, or 1 when Phoenix did not start."""
    # A SIGTERM/SIGHUP (CI timeout, closed terminal) or Ctrl-C unwinds through `phoenix_server`, which
    # stops the server: it runs in its own session, so no signal reaches it directly.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGHUP, _exit_on_signal)
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--serve", action="store_true", help="start Phoenix and wait for Ctrl-C")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = parser.parse_args(argv)
    phoenix = ensure_venv()
    with phoenix_server(phoenix) as (url, log_path):
        if args.serve:
            log(f"serving on {url} (UI and REST API); Ctrl-C stops it")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                return 0
        command = [
            sys.executable,
            "-m",
            "pytest",
            str(ROOT / "e2e" / "test_phoenix.py"),
            "-p",
            "no:cacheprovider",
            *args.pytest_args,
        ]
        started = time.monotonic()
        result = subprocess.run(command, cwd=ROOT, env={**os.environ, URL_ENV: url}, check=False)
        log(f"tests took {time.monotonic() - started:.1f} s")
        if result.returncode != 0:
            log(f"FAILED (pytest exit {result.returncode}); last lines of the Phoenix log:")
            print(tail(log_path, 40), flush=True)
        return result.returncode


if __name__ == "__main__":
    sys.exit(main())
