"""The command behind llmguard's generated snapshots (``python -m llmguard._storage._gen``, ``_pins_gen``).

A snapshot is a file the package reads at run time, rendered from a source people edit; the
command rewrites it, and ``--check`` (what the tests run) says whether it is stale.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["snapshot_main"]


def snapshot_main(
    argv: Sequence[str] | None, *, target: Path, render: Callable[[], str], command: str, doc: str | None
) -> int:
    """Write ``target`` from ``render()``, or with ``--check`` exit 1 (naming ``command``) when it is stale."""
    parser = argparse.ArgumentParser(prog=command, description=doc.splitlines()[0] if doc else None)
    parser.add_argument("--check", action="store_true", help="exit 1 when the snapshot is out of date")
    args = parser.parse_args(argv)
    text = render()
    current = target.read_text(encoding="utf-8") if target.exists() else ""
    if args.check:
        if current != text:
            print(f"{target} is out of date: run {command}", file=sys.stderr)
            return 1
        return 0
    if current != text:
        target.write_text(text, encoding="utf-8")
        print(f"wrote {target}")
    return 0
