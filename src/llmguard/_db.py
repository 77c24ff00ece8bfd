"""Fork safety of the stores, and the failures a store may have without reaching the caller.

The database itself (engine, schema, migrations, both engines) is `llmguard._storage`.

Fork safety: SQLite connections and Python locks must not cross ``fork()`` mid-use. `after_fork`
registers an object whose ``_lock`` (the lock around all its SQLite use, if it has one) is taken
before ``fork()`` and released after it in the parent, so no transaction is in flight when the
process is copied (SQLite's per-process lock bookkeeping would otherwise make the child's own
connection wait forever). The lock of each database's held SQLite connection is taken after
them, so no read is in flight either. In the child its ``_after_fork()`` runs, to replace its
locks. The child's `llmguard._storage.Database` drops the parent's pool and held connection
without closing them (the parent still uses them) and opens its own.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import threading
import weakref

from .exceptions import LLMGuardError

__all__ = ["FORK_WAIT_S", "WRITE_ERRORS", "after_fork"]

WRITE_ERRORS: tuple[type[BaseException], ...] = (sqlite3.Error, OSError, LLMGuardError)
"""Failures of a store (read-only file, full disk, unusable path): logged once and counted, never raised."""

FORK_WAIT_S = 5.0
"""How long ``fork()`` waits for each store's transaction in flight to finish."""

_forkable: weakref.WeakSet[object] = weakref.WeakSet()


_held: list[threading.Lock] = []


def after_fork(obj: object) -> None:
    """Quiesce ``obj._lock`` around ``fork()``; in the child call ``obj._after_fork()`` (held weakly).

    Without an ``_after_fork`` method, the child just gets a fresh ``obj._lock``.
    """
    _forkable.add(obj)


def _before_fork() -> None:
    locks = [getattr(obj, "_lock", None) for obj in list(_forkable)]
    storage = sys.modules.get("llmguard._storage._database")
    if storage is not None:  # then the held SQLite connections: a store takes its lock before its database's
        locks += storage.connection_locks()
    for lock in locks:
        if lock is not None and lock.acquire(timeout=FORK_WAIT_S):
            _held.append(lock)


def _release_in_parent() -> None:
    while _held:
        _held.pop().release()


def _reinit_in_child() -> None:  # pragma: no cover - runs in forked children (tested there)
    _held.clear()
    for obj in list(_forkable):
        reinit = getattr(obj, "_after_fork", None)
        if callable(reinit):
            reinit()
        elif hasattr(obj, "_lock"):
            obj._lock = threading.Lock()


os.register_at_fork(before=_before_fork, after_in_parent=_release_in_parent, after_in_child=_reinit_in_child)
