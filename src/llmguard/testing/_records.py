"""Building call records directly, for testing observers, sinks and ledgers without a client."""

from __future__ import annotations

import time
from typing import Any

from llmguard._record import CallRecord, Usage, new_call_id

__all__ = ["make_record"]

_SNAPSHOT = "gpt-4o-mini-2024-07-18"


def make_record(**fields: Any) -> CallRecord:
    """A complete `CallRecord` of a successful chat call; any field can be overridden.

    Example:
        `make_record(usage=Usage(input_tokens=3000, output_tokens=300), prompt=PromptRef(...))`
    """
    values: dict[str, Any] = {
        "call_id": new_call_id(),
        "kind": "app",
        "service_name": "test",
        "environment": "test",
        "provider": "openai",
        "operation": "chat",
        "api": "chat.completions",
        "requested_model": _SNAPSHOT,
        "request_model": _SNAPSHOT,
        "locked_model": None,
        "response_model": _SNAPSHOT,
        "pin_action": "allow",
        "drift": False,
        "stream": False,
        "stream_completed": None,
        "response_id": "resp-test",
        "finish_reasons": ("stop",),
        "usage": Usage(input_tokens=10, output_tokens=5),
        "start_time_ns": time.time_ns(),
        "duration_s": 0.1,
        "time_to_first_chunk_s": None,
        "retries": 0,
        "error_type": None,
    }
    values.update(fields)
    return CallRecord(**values)
