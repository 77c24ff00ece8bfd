"""Fault scenarios that need a process of their own; run as ``python -m faults._scenarios NAME DIR``.

Each process writes its accounting as JSON to ``DIR/reports/`` for the test to check.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import threading
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ._app import HostApp, SpanCounter, build_app, count


def snapshot(app: HostApp, role: str, **extra: Any) -> dict[str, Any]:
    """This process's accounting, as a JSON-ready dict."""
    line = {"role": role, "pid": os.getpid(), "calls": app.calls, "feedbacks": app.feedbacks, **extra}
    line.update(asdict(app.accounting()))
    return line


def save(root: Path, line: dict[str, Any]) -> None:
    """Write a report to ``root/reports/<role>-<pid>.json``."""
    folder = root / "reports"
    folder.mkdir(exist_ok=True)
    (folder / f"{line['role']}-{line.get('pid', 0)}.json").write_text(json.dumps(line, default=str))


def report(app: HostApp, role: str, **extra: Any) -> None:
    """Save this process's accounting."""
    save(app.db.parent, snapshot(app, role, **extra))


def disk_full(root: Path) -> None:
    """Calls before, during and after a full disk (RLIMIT_FSIZE: every file write fails with EFBIG)."""
    app = build_app(root)
    app.serve("before")
    assert app.guard.flush(10)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead of killing us
    _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, hard))
    answers = [app.serve(f"while full {n}") for n in range(4)]
    full = snapshot(app, "full", answers=answers)
    resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
    save(root, full)  # there is room for the report again
    answers = [app.serve(f"after {n}") for n in range(2)]
    report(app, "after", answers=answers)
    app.close()


def fork(root: Path) -> None:
    """A preloaded app forks two workers while one of its threads is still making calls."""
    spans = SpanCounter()
    app = build_app(root, exporter=spans)
    for n in range(3):
        app.serve(f"parent {n}")  # no flush: rows may still be queued when the workers fork
    stop = threading.Event()
    background = _background_calls(app, stop)
    children = []
    for worker in range(2):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads
            pid = os.fork()
        if pid == 0:  # the worker: its own calls, then its own accounting
            code = 1
            try:
                app.calls = app.feedbacks = spans.exported = 0  # the worker counts its own
                answers = [app.serve(f"worker {worker} {n}") for n in range(4)]
                answers.append(app.serve(f"worker {worker} stream", stream=True))
                report(app, "child", answers=answers)
                app.close()
                code = 0
            finally:
                os._exit(code)
        children.append(pid)
    codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]
    stop.set()
    background.join(30)
    app.serve("parent after")
    report(app, "parent", codes=codes)
    app.close()
    save(root, {"role": "db", **{t: count(app.db, t) for t in TABLES}})


TABLES = ("cost_ledger", "llmguard_judgments", "llmguard_feedback")


def _background_calls(app: HostApp, stop: threading.Event) -> threading.Thread:
    def loop() -> None:
        n = 0
        while not stop.is_set() and n < 200:
            app.serve(f"background {n}")
            n += 1

    thread = threading.Thread(target=loop, name="app-background")
    thread.start()
    return thread


if __name__ == "__main__":
    {"disk_full": disk_full, "fork": fork}[sys.argv[1]](Path(sys.argv[2]))
