"""Internal error handling and once-only advisories.

Telemetry, cost, judging and feedback must never raise into the host application. Every hook
boundary runs under `handle_internal_errors`, which logs to the ``llmguard`` logger. Under
pytest (``PYTEST_CURRENT_TEST`` set) it re-raises, so bugs are not hidden by the safety net.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ._env import LLMGUARD_SWALLOW_INTERNAL_ERRORS

__all__ = [
    "MAX_ADVISORY_KEYS",
    "LLMGuardAdvisory",
    "advise_once",
    "handle_internal_errors",
    "log_internal_error",
    "logger",
    "read_utf8",
    "reset_advisories",
]

logger = logging.getLogger("llmguard")


class LLMGuardAdvisory(UserWarning):
    """Python warning category for advisories, emitted only when the user opts in."""


MAX_ADVISORY_KEYS = 1000
"""Distinct keys remembered per advisory category (e.g. model names warned about under ``warn``).

Past it, one last advisory says so and further new keys of that category are not logged: memory
stays bounded by this constant times the fixed set of categories, whatever the traffic.
"""

_seen: set[tuple[str, str]] = set()
_counts: dict[str, int] = {}
_seen_lock = threading.Lock()


def _reinit_after_fork() -> None:  # pragma: no cover - runs in forked children
    global _seen_lock
    _seen_lock = threading.Lock()


os.register_at_fork(after_in_child=_reinit_after_fork)


def log_internal_error(context: str) -> None:
    """Log the exception being handled; re-raise it under pytest so tests see llmguard's bugs."""
    if os.environ.get("PYTEST_CURRENT_TEST") and not os.environ.get(LLMGUARD_SWALLOW_INTERNAL_ERRORS):
        raise
    logger.exception("llmguard internal error in %s (the LLM call itself is unaffected)", context)


@contextmanager
def handle_internal_errors(context: str) -> Iterator[None]:
    """Run a block whose failure must never reach the caller."""
    try:
        yield
    except Exception:
        log_internal_error(context)


def advise_once(category: str, key: str, message: str, *, python_warning: bool = False) -> bool:
    """Log ``message`` at WARNING once per (category, key) per process.

    At most `MAX_ADVISORY_KEYS` keys are remembered per category; past that, new keys of the
    category are no longer logged (one advisory says so).

    A Python warning is emitted too only when ``python_warning`` is set (apps and test suites
    often run with warnings as errors, so it is opt-in). Returns whether this call emitted it.
    """
    marker = (category, key)
    if marker in _seen:
        return False
    with _seen_lock:
        if marker in _seen:
            return False
        count = _counts.get(category, 0)
        _counts[category] = count + 1
        if count > MAX_ADVISORY_KEYS:
            return False
        if count == MAX_ADVISORY_KEYS:
            message = (
                f"llmguard: {MAX_ADVISORY_KEYS} distinct {category!r} advisories were logged; further new ones "
                f"are not (memory stays bounded). The latest: {message}"
            )
        else:
            _seen.add(marker)
    logger.warning(message)
    if python_warning:
        warnings.warn(message, LLMGuardAdvisory, stacklevel=4)
    return True


def reset_advisories() -> None:
    """Forget which advisories were emitted (for tests and notebooks)."""
    with _seen_lock:
        _seen.clear()
        _counts.clear()


def read_utf8(path: Path, limit: int, error: type[Exception], what: str) -> str:
    """The UTF-8 text of a file a user controls, at most ``limit`` bytes.

    An unreadable, oversized or undecodable file raises ``error`` (an `llmguard.LLMGuardError`
    subclass) with a message naming the file, ``what`` it is, and the offending byte.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise error(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise error(f"{path}: the {what} is {len(data)} bytes; the limit is {limit}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = data[exc.start : exc.start + 1]
        raise error(
            f"{path}: not valid UTF-8 (byte {exc.start}: {bad!r}); save the {what} as UTF-8"
        ) from None
