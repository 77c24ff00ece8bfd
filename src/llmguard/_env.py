"""Every environment variable llmguard reads, declared in one place.

Only `llmguard._settings` reads them, once, when settings are loaded.
"""

from __future__ import annotations

__all__ = [
    "ANTHROPIC_OPEN_TELEMETRY_PREFIX",
    "LLMGUARD_CACHE_DIR",
    "LLMGUARD_CONFIG",
    "LLMGUARD_DB",
    "LLMGUARD_ENV",
    "LLMGUARD_PIN_POLICY",
    "LLMGUARD_PYTHON_WARNINGS",
    "LLMGUARD_REVIEW_SECRET",
    "LLMGUARD_SERVICE_NAME",
    "LLMGUARD_SWALLOW_INTERNAL_ERRORS",
    "OTEL_CAPTURE_CONTENT",
    "OTEL_SERVICE_NAME",
]

LLMGUARD_ENV = "LLMGUARD_ENV"
"""Deployment environment (``production``, ``staging``, ``dev``...). ``production`` makes the pin policy enforce."""

LLMGUARD_PIN_POLICY = "LLMGUARD_PIN_POLICY"
"""Pin policy: ``enforce``, ``warn`` or ``off``."""

LLMGUARD_DB = "LLMGUARD_DB"
"""Path of the local SQLite database used by judging, feedback and the cost ledger."""

LLMGUARD_SERVICE_NAME = "LLMGUARD_SERVICE_NAME"
"""Service name recorded on every call (falls back to ``OTEL_SERVICE_NAME``)."""

LLMGUARD_CONFIG = "LLMGUARD_CONFIG"
"""Explicit path of a ``pyproject.toml`` or ``llmguard.toml`` to read settings from."""

LLMGUARD_PYTHON_WARNINGS = "LLMGUARD_PYTHON_WARNINGS"
"""``1`` to also emit advisories (unpinned model, drift) as Python warnings, not only log records."""

LLMGUARD_REVIEW_SECRET = "LLMGUARD_REVIEW_SECRET"
"""The secret ``llmguard review token`` and ``llmguard review serve`` sign and verify reviewer tokens with
(read by the CLI only; in code, pass ``Guard(feedback_secret=...)``)."""

OTEL_SERVICE_NAME = "OTEL_SERVICE_NAME"
"""The OpenTelemetry service name, used when ``LLMGUARD_SERVICE_NAME`` is unset."""

OTEL_CAPTURE_CONTENT = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
"""The GenAI content-capture switch shared with the official instrumentations."""

LLMGUARD_SWALLOW_INTERNAL_ERRORS = "LLMGUARD_SWALLOW_INTERNAL_ERRORS"
"""``1`` to log (not re-raise) llmguard's internal errors under pytest, to test the safety net itself."""

ANTHROPIC_OPEN_TELEMETRY_PREFIX = "ANTHROPIC_OPEN_TELEMETRY"
"""The Anthropic SDK's own tracing variables; when any is set, guarded Anthropic clients keep the SDK's spans."""

LLMGUARD_CACHE_DIR = "LLMGUARD_CACHE_DIR"
"""Folder of llmguard's per-user cache (the model lifecycle table ``llmguard pins update`` refreshes, the
genai-prices table pricing reads one provider at a time)."""
