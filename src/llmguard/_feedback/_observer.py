"""The opt-in retention buffer: the last N app calls' content, for judging on negative feedback.

Off by default (``retain_unsampled = 0``): content is then never held beyond the call. Set it
with ``Guard(sampling={"retain_unsampled": N})`` (or an object with that attribute), or in
``[tool.llmguard.feedback] retain_unsampled = N``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from llmguard._core import CallContext, CallObserver
from llmguard._db import after_fork
from llmguard._record import CallRecord

if TYPE_CHECKING:
    from llmguard._guard import Guard

__all__ = ["RetentionBuffer", "build", "retain_unsampled"]

MAX_RETAINED = 100_000


class RetentionBuffer:
    """Keeps the records (with output text) of the last ``size`` app calls, by call id.

    Args:
        size: How many calls to keep; older ones are dropped first.
    """

    is_feedback_buffer = True

    def __init__(self, size: int) -> None:
        self.size = size
        self._records: OrderedDict[str, CallRecord] = OrderedDict()
        self._lock = threading.Lock()
        after_fork(self)  # a fresh lock in a forked child

    def needs_cost(self) -> bool:
        """Never reads the cost of a call."""
        return False

    def on_start(self, call: CallContext) -> None:
        """Ask the core to keep the output text of app calls."""
        if call.kind == "app":
            call.want_output = True

    def on_end(self, call: CallContext, record: CallRecord) -> None:
        """Keep the record of a successful app call."""
        if record.kind != "app" or record.error_type is not None:
            return
        with self._lock:
            self._records[record.call_id] = record
            while len(self._records) > self.size:
                self._records.popitem(last=False)

    def retained(self, call_id: str) -> CallRecord | None:
        """The kept record of ``call_id``, if still held."""
        with self._lock:
            return self._records.get(call_id)

    def shutdown(self, timeout: float = 0.0) -> None:
        """Drop every kept record."""
        with self._lock:
            self._records.clear()

    def __len__(self) -> int:
        return len(self._records)


def retain_unsampled(guard: Guard) -> int:
    """The configured buffer size (``0`` when off)."""
    sampling: Any = guard.sampling
    value: Any = None
    if isinstance(sampling, Mapping):
        value = sampling.get("retain_unsampled")
    elif sampling is not None:
        value = getattr(sampling, "retain_unsampled", None)
    if value is None:
        table = guard.settings.file_settings.get("feedback")
        value = table.get("retain_unsampled") if isinstance(table, Mapping) else None
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_RETAINED:
        from llmguard.exceptions import ConfigurationError

        raise ConfigurationError(f"retain_unsampled must be an integer in 0..{MAX_RETAINED}, got {value!r}")
    return value


def build(guard: Guard) -> CallObserver | None:
    """The retention buffer when ``retain_unsampled`` > 0, else ``None`` (nothing per call)."""
    size = retain_unsampled(guard)
    return RetentionBuffer(size) if size > 0 else None
