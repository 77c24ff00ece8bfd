"""The declared lifecycle of what a feature builds: ``needs_cost``, ``flush`` and ``shutdown``.

A feature's observer (or any object it builds that holds background work) implements `Lifecycle`;
`LifecycleBase` ships the no-op defaults. The guard and the runtime call these methods on the
objects that declare them, found once when the runtime is compiled, never probed per call:

* ``needs_cost()`` is asked once, at compile time: a call no watching observer needs the cost of
  is not priced (``record.cost`` is ``None``).
* ``flush(timeout)`` is called by `llmguard.Guard.flush`, ``shutdown(timeout)`` by
  `llmguard.Guard.close`.

`ChunkTimed` (``needs_chunk_gaps()``, also asked once at compile time) says whether the observer
reads ``record.chunk_gaps_s``: a stream's per-chunk clock gaps are kept only when a watching
observer does (an observer that is not a `Lifecycle` always gets them).

`Gated` is the optional per-call gate of a `llmguard.CallObserver`: ``active()`` is asked once
per call, before ``on_start``; ``False`` leaves the observer out of that call.

A leaf module: it imports nothing of llmguard.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["ChunkTimed", "Gated", "Lifecycle", "LifecycleBase", "needs_chunk_gaps"]


@runtime_checkable
class Lifecycle(Protocol):
    """Background work and pricing needs of a built feature object."""

    def needs_cost(self) -> bool:
        """Whether the calls this object watches must be priced (asked once, when the runtime is built)."""
        ...

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait up to ``timeout`` seconds for background work; True when all of it is done."""
        ...

    def shutdown(self, timeout: float = 5.0) -> None:
        """Finish (bounded by ``timeout``) and stop background work; idempotent."""
        ...


class LifecycleBase:
    """`Lifecycle` with no-op defaults: priced calls, nothing to flush, nothing to stop."""

    __slots__ = ()

    def needs_cost(self) -> bool:
        """Calls are priced (override to return False when the cost is never read)."""
        return True

    def needs_chunk_gaps(self) -> bool:
        """Streams' per-chunk gaps are not read (override to return True when they are)."""
        return False

    def flush(self, timeout: float = 5.0) -> bool:
        """Nothing in the background: done."""
        return True

    def shutdown(self, timeout: float = 5.0) -> None:
        """Nothing to stop."""


@runtime_checkable
class Gated(Protocol):
    """An observer that may sit a call out (e.g. telemetry while no OpenTelemetry provider is set)."""

    def active(self) -> bool:
        """Watch this call (asked once per call, before ``on_start``)."""
        ...


@runtime_checkable
class ChunkTimed(Protocol):
    """An observer that declares whether it reads a stream's per-chunk gaps (``record.chunk_gaps_s``)."""

    def needs_chunk_gaps(self) -> bool:
        """Whether the calls this object watches must keep their chunk gaps (asked once, at compile time)."""
        ...


def needs_chunk_gaps(observer: object) -> bool:
    """Whether ``observer`` reads chunk gaps: always, unless it is a `Lifecycle` that does not say it does."""
    if isinstance(observer, ChunkTimed):
        return observer.needs_chunk_gaps()
    return not isinstance(observer, Lifecycle)
