"""The opt-in retention buffer: the last N app calls' content, for judging on negative feedback.

Off by default (``retain_unsampled = 0``): content is then never held beyond the call. Set it
with ``Guard(sampling={"retain_unsampled": N})`` (or an object with that attribute), in
``[tool.llmguard] sampling = {retain_unsampled = N}`` or in ``[tool.llmguard.feedback]
retain_unsampled = N`` (in that order of precedence).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

from llmguard._contract import Links, Parts
from llmguard._db import after_fork
from llmguard._lifecycle import LifecycleBase
from llmguard._options import MAX_RETAINED, FeedbackOptions, retain_unsampled
from llmguard._record import CallRecord

from ._judging import FeedbackRoute

if TYPE_CHECKING:
    from llmguard._core import CallContext
    from llmguard._guard import Guard

__all__ = ["FEATURE", "MAX_RETAINED", "FeedbackFeature", "RetentionBuffer", "retain_unsampled"]


class RetentionBuffer(LifecycleBase):
    """Keeps the records (with output text) of the last ``size`` app calls, by call id.

    Args:
        size: How many calls to keep; older ones are dropped first.
    """

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


class FeedbackFeature:
    """The feedback `llmguard._features.Feature`: the retention buffer and the route to judging."""

    name = "feedback"

    def options(self, guard: Guard) -> FeedbackOptions:
        """``retain_unsampled`` (``sampling=``, ``[tool.llmguard] sampling``, ``[tool.llmguard.feedback]``)."""
        return FeedbackOptions.resolve(guard)

    def build(self, options: FeedbackOptions, links: Links) -> Parts:
        """The retention buffer when ``retain_unsampled`` > 0; publishes ``links.feedback``.

        Judging is built before feedback: ``links.judging`` is its handle, or None when it is off.
        """
        buffer = RetentionBuffer(options.retain_unsampled) if options.retain_unsampled > 0 else None
        links.feedback = FeedbackRoute(buffer=buffer, judging=links.judging)
        return Parts(observer=buffer)


FEATURE = FeedbackFeature()
"""The feedback feature, as `llmguard._features.FEATURES` names it."""
