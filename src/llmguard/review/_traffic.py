"""Eval suites over recent real traffic: ``llmguard eval run SUITE --traffic 7d --sample 200``.

The inputs are the retained content (review queue and feedback store) of the window, deduplicated by
normalised input, and sampled deterministically: the ``sample`` inputs whose call ids hash lowest
under the salt (`llmguard.judging.sample_point`), so a larger sample only adds inputs. They become a
temporary dataset of ``input``-only cases; the suite's prompt (its current production version) and
judges run over it, and its gate decides the exit code.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from llmguard.exceptions import EvalError
from llmguard.judging._sampler import sample_point

from ._refresh import input_text, normalise
from ._store import ReviewStore

__all__ = ["TRAFFIC_SALT", "parse_window", "traffic_cases", "write_traffic_dataset"]

TRAFFIC_SALT = "llmguard:traffic-eval:v1"
_WINDOW = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_window(text: str) -> float:
    """Seconds in a window like ``90m``, ``24h``, ``7d`` or ``2w``.

    Raises:
        EvalError: Not a positive number followed by s, m, h, d or w.
    """
    match = _WINDOW.match(text) if isinstance(text, str) else None
    if match is None or float(match.group(1)) <= 0:
        raise EvalError(f"--traffic {text!r}: use a positive duration such as 24h, 7d or 2w")
    return float(match.group(1)) * _UNITS[match.group(2)]


def traffic_cases(
    store: ReviewStore,
    window_s: float,
    sample: int,
    *,
    redact: Callable[[str], str] | None = None,
    salt: str = TRAFFIC_SALT,
    now_ns: int | None = None,
) -> list[dict[str, Any]]:
    """Up to ``sample`` distinct recent inputs as dataset cases (``id``, ``input``, ``tags``, ``metadata``)."""
    if sample < 1:
        raise EvalError(f"--sample {sample}: use a positive number of inputs")
    since = (now_ns if now_ns is not None else time.time_ns()) - int(window_s * 1e9)
    seen: set[str] = set()
    cases: list[dict[str, Any]] = []
    for call_id, content in sorted(
        store.retained_since(since).items(), key=lambda kv: sample_point(kv[0], salt)
    ):
        text = input_text(content.get("input"))
        if text is None:
            continue
        text = str(redact(text)) if redact is not None else text
        key = normalise(text)
        if not key or key in seen:
            continue
        seen.add(key)
        cases.append({"id": f"traffic-{call_id}", "input": text, "tags": ["traffic"],
                      "metadata": {"call_id": call_id}})  # fmt: skip
        if len(cases) >= sample:
            break
    return cases


def write_traffic_dataset(cases: list[dict[str, Any]], folder: Path) -> Path:
    """Write ``cases`` as a JSONL dataset in ``folder``; raise `EvalError` when there are none."""
    if not cases:
        raise EvalError("no retained traffic in the window: enable content capture and review routing first")
    path = folder / "traffic.jsonl"
    path.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases), encoding="utf-8")
    return path
