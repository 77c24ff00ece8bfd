"""The supervisor loop: ``llmguard rollout watch`` and the opt-in periodic check inside an app.

Any number of processes may run it: every transition is compare-and-set, so two supervisors
checking the same rollout at once move it once (the loser's write is refused and it re-reads).
Inside an app the check never raises into the host: rollout errors (a label moved by hand, a lost
race) are logged at WARNING, anything else goes through ``handle_internal_errors``.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence

from llmguard._internal import handle_internal_errors, logger
from llmguard.exceptions import LLMGuardError, RolloutConflictError

from ._controller import CheckResult, Rollouts

__all__ = ["RolloutWatcher", "check_all"]


def check_all(rollouts: Rollouts, targets: Sequence[tuple[str, str]]) -> list[CheckResult]:
    """Check every (name, label); a lost race is skipped (another supervisor moved it)."""
    results = []
    for name, label in targets:
        try:
            results.append(rollouts.check(name, label))
        except RolloutConflictError as exc:
            logger.info("llmguard rollout %s %s: %s", name, label, exc)
    return results


class RolloutWatcher:
    """Check rollouts every ``interval`` seconds on a daemon thread (opt-in; call `start`).

    Args:
        rollouts: The rollouts to check.
        targets: ``(name, label)`` pairs, or names (label ``production``).
        interval: Seconds between checks (default: 60).
    """

    def __init__(
        self, rollouts: Rollouts, targets: Sequence[tuple[str, str] | str], *, interval: float = 60.0
    ) -> None:
        self.rollouts = rollouts
        self.targets = [(t, "production") if isinstance(t, str) else t for t in targets]
        self.interval = max(0.01, float(interval))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.checks = 0

    def start(self) -> RolloutWatcher:
        """Start the background thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="llmguard-rollout-watch", daemon=True)
            self._thread.start()
        return self

    def check_once(self) -> list[CheckResult]:
        """One round of checks; never raises."""
        results: list[CheckResult] = []
        with handle_internal_errors("rollout check"):
            try:
                results = check_all(self.rollouts, self.targets)
            except LLMGuardError as exc:
                logger.warning("llmguard rollout check: %s", exc)
        self.checks += 1
        return results

    def _run(self) -> None:
        # A random first delay spreads the checks of many replicas.
        while not self._stop.wait(
            self.interval * (0.5 + random.random() / 2) if self.checks == 0 else self.interval
        ):
            self.check_once()

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> RolloutWatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
