"""The Guard: one object holding every llmguard concern, one keyword slot per concern.

``Guard(...)`` is the instance API; `configure` sets the process default used by clients
built without ``guard=``. Settings resolve as argument > environment > config file > default.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Never

from ._core import CallObserver, PreCallPolicy, Runtime
from ._display import html_table
from ._lifecycle import Lifecycle
from ._options import feature_guard_keys
from ._settings import SETTINGS_KEYS, PinMode, Settings, load_settings
from ._stats import GuardStats, guard_stats
from .exceptions import ConfigurationError

if TYPE_CHECKING:
    from ._features import Compiled

__all__ = ["GUARD_KEYS", "Guard", "configure", "get_default_guard", "reset_default_guard"]

GUARD_KEYS: tuple[str, ...] = tuple(sorted(SETTINGS_KEYS | feature_guard_keys()))
"""Every keyword `Guard` and `configure` accept: the core's settings (`llmguard._settings.Settings`)
and every feature's ``GUARD_KEYS`` (`llmguard._options`). The signature of `Guard` is checked
against it by the tests."""


class Guard:
    """Policy, telemetry and quality settings shared by the clients that use it.

    Every argument is keyword-only and optional; unset settings come from the environment
    (``LLMGUARD_*``), then ``[tool.llmguard]`` in ``pyproject.toml`` / ``llmguard.toml``, then
    defaults. Slots of features not configured cost nothing.

    Args:
        environment: Deployment environment; ``production`` makes the default pin policy ``enforce``.
        service_name: Recorded on every call.
        pin_policy: ``enforce`` (refuse floating aliases before any I/O), ``warn`` (log once per model) or ``off``.
        pins: Alias -> snapshot lock entries (rewritten under enforce/warn), and Azure deployment or
            OpenAI-compatible served name -> snapshot declarations.
        prompts: The prompt store (prompt registry).
        configs: The config-artifact store (registry of RAG/chain settings).
        judges: Judges run on sampled calls.
        sampling: Judging sample rate(s).
        judgment_sink: Where judgments are written.
        feedback_sink: Where user feedback is written.
        feedback_secret: HMAC secret(s) for browser feedback tokens.
        ledger: The cost ledger.
        budgets: Cost budgets.
        prices: Price overrides.
        capture_content: Record message content in telemetry (off by default).
        telemetry: Telemetry options (`llmguard.telemetry.TelemetryOptions` or a mapping of its
            fields: the legacy cache-creation attribute, the content size cap and redaction hook...).
        db: The database of the storing features (ledger, judgments, feedback, SQL prompt store): a
            file path or ``sqlite:///PATH`` (embedded, the default ``.llmguard/llmguard.db``), or
            ``postgresql://USER@HOST/DB`` shared by every replica (``pip install 'llmguard[postgres]'``,
            then ``llmguard db upgrade``).
        db_path: The former name of ``db`` (a SQLite file path).
        drift: Input drift monitoring: ``True``, a mapping, or a `llmguard.drift.DriftConfig`
            (needs the ``llmguard[drift]`` extra).
        tracer_provider: OpenTelemetry tracer provider (default: the global one).
        meter_provider: OpenTelemetry meter provider (default: the global one).
        logger_provider: OpenTelemetry logger provider (default: the global one).
        observers: Extra `CallObserver` objects called on every call.
        policies: Extra pre-call policies (callables run before any I/O; may raise).
        inject_stream_usage: Ask OpenAI streams for usage when you did not set ``stream_options``.
        python_warnings: Also emit advisories as Python warnings.
    """

    def __init__(
        self,
        *,
        environment: str | None = None,
        service_name: str | None = None,
        pin_policy: PinMode | None = None,
        pins: Mapping[str, str] | None = None,
        prompts: Any = None,
        configs: Any = None,
        judges: Any = None,
        sampling: Any = None,
        judgment_sink: Any = None,
        feedback_sink: Any = None,
        feedback_secret: str | Sequence[str] | None = None,
        ledger: Any = None,
        budgets: Any = None,
        prices: Any = None,
        capture_content: bool | None = None,
        telemetry: Any = None,
        db: str | Path | None = None,
        db_path: str | Path | None = None,
        drift: Any = None,
        tracer_provider: Any = None,
        meter_provider: Any = None,
        logger_provider: Any = None,
        observers: Sequence[CallObserver] = (),
        policies: Sequence[PreCallPolicy] = (),
        inject_stream_usage: bool | None = None,
        python_warnings: bool | None = None,
        **unknown: Never,
    ) -> None:
        if unknown:
            key = sorted(unknown)[0]
            raise ConfigurationError(f"Guard: unknown key {key!r}; valid keys: {', '.join(GUARD_KEYS)}")
        arguments = locals()
        self.settings: Settings = load_settings({key: arguments[key] for key in SETTINGS_KEYS})
        self.prompt_store = prompts
        self.config_store = configs
        self.judges = judges
        self.sampling = sampling
        self.judgment_sink = judgment_sink
        self.feedback_sink = feedback_sink
        self.feedback_secret = feedback_secret
        self.ledger = ledger
        self.budgets = budgets
        self.prices = prices
        self.telemetry = telemetry
        self.drift = drift
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self.logger_provider = logger_provider
        self.observers: tuple[CallObserver, ...] = tuple(observers)
        self.policies: tuple[PreCallPolicy, ...] = tuple(policies)
        self._compiled: Compiled | None = None
        """What the features built (runtime, typed links between features); None before the first call."""

    # -- derived ----------------------------------------------------------------------------------
    @property
    def environment(self) -> str:
        """The deployment environment."""
        return self.settings.environment

    @property
    def service_name(self) -> str:
        """The service name recorded on every call."""
        return self.settings.service_name

    @property
    def pin_policy(self) -> PinMode:
        """The effective pin policy."""
        return self.settings.pin_policy

    @property
    def pins(self) -> Mapping[str, str]:
        """Lock entries and declared pins (file, then code)."""
        return self.settings.pins

    @property
    def capture_content(self) -> bool:
        """Whether telemetry records message content."""
        return self.settings.capture_content

    @property
    def db_path(self) -> Path:
        """The SQLite file of the storing features, when ``db`` is SQLite (nothing is created until one runs)."""
        return self.settings.db_path

    @property
    def db(self) -> str:
        """The database URL of the storing features: ``sqlite:///...`` (default) or ``postgresql+psycopg://...``."""
        return self.settings.db

    @cached_property
    def prompts(self) -> Any:
        """The prompt registry (``guard.prompts.get(name, version=..., label=...)``), built on first use."""
        from .prompts import PromptRegistry

        return PromptRegistry.for_guard(self, self.prompt_store, kind="prompt")

    @cached_property
    def configs(self) -> Any:
        """The config-artifact registry (same versions, labels, promotion and rollback as prompts)."""
        from .prompts import PromptRegistry

        return PromptRegistry.for_guard(self, self.config_store, kind="config")

    def feedback_token(
        self,
        target: Any,
        *,
        ttl: float = 86_400.0,
        user_id: str | None = None,
        names: Sequence[str] | None = None,
    ) -> str:
        """An opaque, signed, expiring token naming the call that produced ``target`` (for browser feedback).

        ``user_id`` binds the token to one user and ``names`` to the feedback names it may send.
        """
        from ._feedback import make_token

        return make_token(self, target, ttl=ttl, user_id=user_id, names=names)

    @cached_property
    def runtime(self) -> Runtime:
        """The compiled per-call pipeline (built on first use)."""
        from ._features import build_runtime

        compiled = build_runtime(self)
        compiled.runtime.guard = self
        self._compiled = compiled
        return compiled.runtime

    def _lifecycles(self) -> tuple[Lifecycle, ...]:
        """The observers that declare a `Lifecycle` (before the first call, only your own)."""
        runtime = self.__dict__.get("runtime")
        observers = runtime.observers if runtime is not None else self.observers
        return tuple(o for o in observers if isinstance(o, Lifecycle))

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait up to ``timeout`` seconds for background work (judging, ledger, exports); True if all done."""
        done = True
        for lifecycle in self._lifecycles():
            done = bool(lifecycle.flush(timeout)) and done
        return done

    def stats(self) -> GuardStats:
        """A typed snapshot of background counters: judging, cost ledger and feedback (see `GuardStats`).

        Reading it builds, starts and opens nothing; a feature that is off or has not run yet is None.
        """
        return guard_stats(self)

    def close(self, timeout: float = 5.0) -> None:
        """Flush and stop background work of this guard's features (idempotent).

        Close a guard when the app stops. A call made through it afterwards still gets its ledger
        row (the writer restarts, and a warning says so once); its sampled judgments are dropped
        and counted (reason ``closed``).
        """
        for lifecycle in self._lifecycles():
            lifecycle.shutdown(timeout)
        feedback = sys.modules.get("llmguard._feedback")
        if feedback is not None:
            feedback.close_sinks(self)

    # -- display ----------------------------------------------------------------------------------
    def _summary(self) -> dict[str, object]:
        s = self.settings
        return {
            "environment": s.environment,
            "service_name": s.service_name,
            "pin_policy": s.pin_policy,
            "pins": len(s.pins),
            "capture_content": s.capture_content,
            "config_file": str(s.config_file) if s.config_file else None,
            "observers": [type(o).__name__ for o in self.observers],
        }

    def __repr__(self) -> str:
        inner = ", ".join(f"{key}={value!r}" for key, value in self._summary().items())
        return f"Guard({inner})"

    def _repr_html_(self) -> str:
        return html_table("llmguard.Guard", self._summary())


_default: Guard | None = None
_default_lock = threading.Lock()


def configure(**kwargs: Any) -> Guard:
    """Set the process-default `Guard`, used by clients built without ``guard=``.

    Takes the same keywords as `Guard`; an unknown key raises `llmguard.ConfigurationError`.
    Returns the new default guard.
    """
    global _default
    unknown = sorted(set(kwargs) - set(GUARD_KEYS))
    if unknown:
        raise ConfigurationError(
            f"configure(): unknown key {unknown[0]!r}; valid keys: {', '.join(GUARD_KEYS)}"
        )
    guard = Guard(**kwargs)
    with _default_lock:
        previous, _default = _default, guard
    if previous is not None:
        previous.close(timeout=1.0)
    return guard


def get_default_guard() -> Guard:
    """The process-default guard, built from environment and config file on first use."""
    global _default
    guard = _default
    if guard is None:
        with _default_lock:
            if _default is None:
                _default = Guard()
            guard = _default
    return guard


def reset_default_guard() -> None:
    """Forget the process default (the next call rebuilds it from environment and files)."""
    global _default
    with _default_lock:
        previous, _default = _default, None
    if previous is not None:
        previous.close(timeout=1.0)
