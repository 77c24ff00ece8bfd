"""A small TTL cache that serves stale entries when a refresh fails, up to a maximum age.

Hits take no lock (one dict lookup and one clock read); misses and refreshes are serialized per
cache. Invalidation is by exact key only (no prefix matching: ``support`` never evicts
``support-bot``). The lock is re-created in a forked child.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["CacheStats", "TTLCache"]

T = TypeVar("T")
logger = logging.getLogger("llmguard")
_caches: weakref.WeakSet[TTLCache[object]] = weakref.WeakSet()


class CacheStats:
    """Counters: ``hits``, ``misses``, ``stale_served`` (refresh failed, stale entry returned)."""

    __slots__ = ("hits", "misses", "stale_served")

    def __init__(self) -> None:
        self.hits = 0
        self.misses = 0
        self.stale_served = 0

    def __repr__(self) -> str:
        return f"CacheStats(hits={self.hits}, misses={self.misses}, stale_served={self.stale_served})"


class TTLCache(Generic[T]):
    """Entries fresh for ``ttl`` seconds; on a failed refresh, stale ones are served up to ``max_stale``.

    Args:
        ttl: Seconds an entry is served without asking the store again (0 disables caching).
        max_stale: Seconds past the TTL a stale entry may still be served when the store fails.
        clock: A monotonic clock (for tests).
    """

    def __init__(
        self, ttl: float = 60.0, max_stale: float = 3600.0, clock: Callable[[], float] = time.monotonic
    ):
        self.ttl = ttl
        self.max_stale = max_stale
        self.stats = CacheStats()
        self._clock = clock
        self._data: dict[Hashable, tuple[float, T]] = {}
        self._lock = threading.Lock()
        _caches.add(self)  # type: ignore[arg-type]

    def get(self, key: Hashable, load: Callable[[], T]) -> T:
        """The cached value of ``key``, loading it when missing or expired.

        Raises:
            Exception: Whatever ``load`` raised, when there is no entry young enough to serve stale.
        """
        entry = self._data.get(key)
        if entry is not None and self._clock() - entry[0] < self.ttl:
            self.stats.hits += 1
            return entry[1]
        return self._refresh(key, load)

    def _refresh(self, key: Hashable, load: Callable[[], T]) -> T:
        with self._lock:
            entry = self._data.get(key)
            now = self._clock()
            if entry is not None and now - entry[0] < self.ttl:
                return entry[1]
            self.stats.misses += 1
            try:
                value = load()
            except Exception as exc:
                if entry is None or now - entry[0] >= self.ttl + self.max_stale or _is_not_found(exc):
                    raise
                self.stats.stale_served += 1
                logger.warning("llmguard: prompt store failed (%s); serving a cached copy of %r", exc, key)
                return entry[1]
            if self.ttl > 0:
                self._data[key] = (now, value)
            return value

    def fresh(self, key: Hashable) -> T | None:
        """The cached value of ``key`` if it is still fresh, else None (never loads)."""
        entry = self._data.get(key)
        if entry is not None and self._clock() - entry[0] < self.ttl:
            return entry[1]
        return None

    def expires(self, key: Hashable) -> float:
        """When the entry of ``key`` stops being fresh (on this cache's clock); 0 when absent."""
        entry = self._data.get(key)
        return 0.0 if entry is None else entry[0] + self.ttl

    def peek(self, key: Hashable) -> T | None:
        """The cached value of ``key`` whatever its age, without loading."""
        entry = self._data.get(key)
        return None if entry is None else entry[1]

    def invalidate(self, key: Hashable | None = None) -> None:
        """Drop one exact key, or everything when ``key`` is None."""
        with self._lock:
            if key is None:
                self._data.clear()
            else:
                self._data.pop(key, None)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()


def _is_not_found(exc: Exception) -> bool:
    from llmguard.exceptions import PromptNotFoundError

    return isinstance(exc, PromptNotFoundError)


def _reinit_after_fork() -> None:  # pragma: no cover - runs in forked children
    for cache in list(_caches):
        cache._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_after_fork)
