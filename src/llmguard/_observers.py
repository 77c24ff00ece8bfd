"""Small built-in observers."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator

from ._core import CallContext
from ._record import CallRecord

__all__ = ["CallRecorder"]


class CallRecorder:
    """Keeps the most recent call records in memory (for notebooks, demos and tests).

    Args:
        maxlen: How many records to keep; older ones are dropped.
    """

    def __init__(self, maxlen: int = 1000) -> None:
        self._records: deque[CallRecord] = deque(maxlen=maxlen)
        self._lock = threading.Lock()

    def on_start(self, call: CallContext) -> None:
        """Nothing to do before the call."""

    def on_end(self, call: CallContext, record: CallRecord) -> None:
        """Keep the record."""
        with self._lock:
            self._records.append(record)

    @property
    def records(self) -> list[CallRecord]:
        """The kept records, oldest first."""
        with self._lock:
            return list(self._records)

    @property
    def last(self) -> CallRecord | None:
        """The most recent record, if any."""
        with self._lock:
            return self._records[-1] if self._records else None

    def clear(self) -> None:
        """Drop every kept record."""
        with self._lock:
            self._records.clear()

    def __iter__(self) -> Iterator[CallRecord]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self._records)

    def __repr__(self) -> str:
        return f"CallRecorder({len(self)} records)"
