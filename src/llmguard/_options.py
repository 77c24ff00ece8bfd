"""Every feature's typed options: resolved once, argument > environment > config file > default.

Each options type declares the `llmguard.Guard` keywords it owns (``GUARD_KEYS``) and the config-file
keys it reads (``FILE_KEYS``); `llmguard._guard.GUARD_KEYS` and `llmguard._settings.FILE_KEYS` are
derived from these declarations, never listed by hand. ``resolve(guard)`` picks every value by
precedence, once, when the guard's runtime is compiled; features build from the options object and
never read ``guard`` or its config table again.

This module stays light (``import llmguard`` and ``Guard()`` import it): feature code is imported
inside ``resolve`` only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from .exceptions import ConfigurationError

if TYPE_CHECKING:
    from ._core import CallObserver, PreCallPolicy
    from ._guard import Guard
    from .telemetry._options import Redactor, TelemetryOptions

__all__ = [
    "FEATURE_OPTIONS",
    "MAX_RETAINED",
    "CostOptions",
    "ExtensionOptions",
    "FeedbackOptions",
    "JudgingOptions",
    "PricingOptions",
    "PromptOptions",
    "ProviderOptions",
    "TelemetryFeatureOptions",
    "drift_on",
    "feature_file_keys",
    "feature_guard_keys",
]

MAX_RETAINED = 100_000
"""The largest ``retain_unsampled`` (calls whose content the feedback buffer may hold)."""


def _file(guard: Guard, key: str) -> Any:
    return guard.settings.file_settings.get(key)


def _first(argument: Any, file_value: Any) -> Any:
    """Argument, else the config file's value (either may be None)."""
    return argument if argument is not None else file_value


@dataclass(frozen=True, kw_only=True, slots=True)
class ProviderOptions:
    """The OpenTelemetry providers every feature that emits shares (``None``: the global one)."""

    GUARD_KEYS: ClassVar[tuple[str, ...]] = ("tracer_provider", "meter_provider", "logger_provider")
    FILE_KEYS: ClassVar[tuple[str, ...]] = ()

    tracer_provider: Any = None
    meter_provider: Any = None
    logger_provider: Any = None

    @classmethod
    def resolve(cls, guard: Guard) -> ProviderOptions:
        """The guard's providers (arguments only)."""
        return cls(
            tracer_provider=guard.tracer_provider,
            meter_provider=guard.meter_provider,
            logger_provider=guard.logger_provider,
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class ExtensionOptions:
    """Your own observers and pre-call policies (code only)."""

    GUARD_KEYS: ClassVar[tuple[str, ...]] = ("observers", "policies")
    FILE_KEYS: ClassVar[tuple[str, ...]] = ()

    observers: tuple[CallObserver, ...] = ()
    policies: tuple[PreCallPolicy, ...] = ()

    @classmethod
    def resolve(cls, guard: Guard) -> ExtensionOptions:
        """The guard's extra observers and policies."""
        return cls(observers=guard.observers, policies=guard.policies)


@dataclass(frozen=True, kw_only=True, slots=True)
class TelemetryFeatureOptions:
    """Spans and metrics: `llmguard.telemetry.TelemetryOptions`, content capture and providers."""

    GUARD_KEYS: ClassVar[tuple[str, ...]] = ("telemetry",)
    FILE_KEYS: ClassVar[tuple[str, ...]] = ("telemetry",)

    telemetry: TelemetryOptions
    capture_content: bool = False
    providers: ProviderOptions = field(default_factory=ProviderOptions)

    @classmethod
    def resolve(cls, guard: Guard) -> TelemetryFeatureOptions:
        """The ``telemetry=`` argument over ``[tool.llmguard.telemetry]``."""
        from .telemetry._options import TelemetryOptions

        return cls(
            telemetry=TelemetryOptions.resolve(guard.telemetry, _file(guard, "telemetry")),
            capture_content=guard.settings.capture_content,
            providers=ProviderOptions.resolve(guard),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class JudgingOptions:
    """Background judging: the judge specs and sampling (argument, else config file) and the sink."""

    GUARD_KEYS: ClassVar[tuple[str, ...]] = ("judges", "sampling", "judgment_sink")
    FILE_KEYS: ClassVar[tuple[str, ...]] = ("judges", "sampling")

    judges: Any = None
    """Judge specs: ``judges=``, else ``[tool.llmguard] judges`` (resolved to judges when built)."""
    sampling: Any = None
    """Sampling spec: ``sampling=``, else ``[tool.llmguard] sampling``."""
    sink: Any = None
    """``judgment_sink=`` (None: the judgments table of the database ``db``)."""
    db: str = "sqlite:///.llmguard/llmguard.db"
    """The database URL (``guard.db``): SQLite, or PostgreSQL where workers judge."""
    capture_content: bool = False
    redact: Redactor | None = None
    providers: ProviderOptions = field(default_factory=ProviderOptions)

    def configured(self) -> bool:
        """Judges are named (judging without judges builds no observer and publishes no handle)."""
        judges = self.judges
        return not (judges is None or (isinstance(judges, list | tuple) and not judges))

    @classmethod
    def resolve(cls, guard: Guard) -> JudgingOptions:
        """Judging's options: each value from the argument, else the config file."""
        telemetry = TelemetryFeatureOptions.resolve(guard).telemetry
        return cls(
            judges=_first(guard.judges, _file(guard, "judges")),
            sampling=_first(guard.sampling, _file(guard, "sampling")),
            sink=guard.judgment_sink,
            db=guard.settings.db,
            capture_content=guard.settings.capture_content,
            redact=telemetry.redact,
            providers=ProviderOptions.resolve(guard),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class FeedbackOptions:
    """User feedback: its sink and token secret, and the retention buffer for judging on feedback."""

    GUARD_KEYS: ClassVar[tuple[str, ...]] = ("feedback_sink", "feedback_secret")
    FILE_KEYS: ClassVar[tuple[str, ...]] = ("feedback",)

    retain_unsampled: int = 0
    """Calls whose content is held for judging on negative feedback (0: off)."""
    sink: Any = None
    secret: Any = None

    @classmethod
    def resolve(cls, guard: Guard) -> FeedbackOptions:
        """``retain_unsampled``: ``sampling=``, then ``[tool.llmguard] sampling``, then ``[tool.llmguard.feedback]``."""
        return cls(
            retain_unsampled=retain_unsampled(guard),
            sink=guard.feedback_sink,
            secret=guard.feedback_secret,
        )


def _retain_value(sampling: Any) -> Any:
    if isinstance(sampling, Mapping):
        return sampling.get("retain_unsampled")
    return getattr(sampling, "retain_unsampled", None) if sampling is not None else None


def retain_unsampled(guard: Guard) -> int:
    """The feedback retention buffer's size (``0`` when off), by precedence."""
    value = _retain_value(guard.sampling)
    where = "argument sampling"
    if value is None:
        value, where = _retain_value(_file(guard, "sampling")), "[tool.llmguard] sampling"
    if value is None:
        value, where = _retain_value(_file(guard, "feedback")), "[tool.llmguard.feedback]"
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_RETAINED:
        raise ConfigurationError(
            f"{where} retain_unsampled: expected an integer in 0..{MAX_RETAINED}, got {value!r}"
        )
    return value


@dataclass(frozen=True, kw_only=True, slots=True)
class CostOptions:
    """The cost ledger and budgets (argument, else config file)."""

    GUARD_KEYS: ClassVar[tuple[str, ...]] = ("budgets", "ledger")
    FILE_KEYS: ClassVar[tuple[str, ...]] = ("budgets", "ledger")

    budgets: Any = None
    """``budgets=`` (a policy, budgets, rules, callbacks or a table), else None."""
    file_budgets: Any = None
    """``[tool.llmguard.budgets]``, read when ``budgets=`` is not given."""
    ledger: Any = None
    """``ledger=`` (True, False, a path or a ledger), else None."""
    file_ledger: Any = None
    """The config file's top-level ``ledger`` (the budgets table's ``ledger`` ranks above it)."""
    db: str = "sqlite:///.llmguard/llmguard.db"
    """The database URL of ``ledger=True`` (``guard.db``)."""
    providers: ProviderOptions = field(default_factory=ProviderOptions)

    def configured(self) -> bool:
        """Budgets or a ledger are named, by argument or in the config file (else there is no cost state)."""
        return not (
            self.budgets is None
            and self.file_budgets is None
            and self.ledger is None
            and self.file_ledger is None
        )

    @classmethod
    def resolve(cls, guard: Guard) -> CostOptions:
        """The cost feature's options."""
        return cls(
            budgets=guard.budgets,
            file_budgets=_file(guard, "budgets"),
            ledger=guard.ledger,
            file_ledger=_file(guard, "ledger"),
            db=guard.settings.db,
            providers=ProviderOptions.resolve(guard),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class PricingOptions:
    """Price overrides: ``[tool.llmguard.prices]``, then ``prices=`` on top."""

    GUARD_KEYS: ClassVar[tuple[str, ...]] = ("prices",)
    FILE_KEYS: ClassVar[tuple[str, ...]] = ("prices",)

    prices: Any = None
    file_prices: Any = None

    @classmethod
    def resolve(cls, guard: Guard) -> PricingOptions:
        """The pricer's options."""
        return cls(prices=guard.prices, file_prices=_file(guard, "prices"))


@dataclass(frozen=True, kw_only=True, slots=True)
class PromptOptions:
    """The prompt and config-artifact registries (``guard.prompts``, ``guard.configs``)."""

    GUARD_KEYS: ClassVar[tuple[str, ...]] = ("prompts", "configs")
    FILE_KEYS: ClassVar[tuple[str, ...]] = ("prompts_dir", "configs_dir", "protected_labels")

    prompts: Any = None
    """``prompts=``: a store, a folder, ``sqlite:///file.db`` or a registry (None: the folder)."""
    configs: Any = None
    """``configs=``, as ``prompts=``."""
    prompts_dir: Any = None
    """``[tool.llmguard] prompts_dir`` (relative to `base`), None when not set."""
    configs_dir: Any = None
    """``[tool.llmguard] configs_dir`` (relative to `base`), None when not set."""
    base: Path = Path()
    """The config file's folder, else the working directory."""
    protected_labels: Any = None
    """``[tool.llmguard] protected_labels``, None when not set (``[]`` protects none)."""

    @classmethod
    def resolve(cls, guard: Guard) -> PromptOptions:
        """The stores given in code and the registries' keys of the config file."""
        config_file = guard.settings.config_file
        return cls(
            prompts=guard.prompt_store,
            configs=guard.config_store,
            prompts_dir=_file(guard, "prompts_dir"),
            configs_dir=_file(guard, "configs_dir"),
            base=config_file.parent if config_file else Path.cwd(),
            protected_labels=_file(guard, "protected_labels"),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class DriftOptions:
    """Input drift monitoring: ``drift=``, else ``[tool.llmguard] drift`` (coerced when built)."""

    GUARD_KEYS: ClassVar[tuple[str, ...]] = ("drift",)
    FILE_KEYS: ClassVar[tuple[str, ...]] = ("drift",)

    spec: Any = None
    """``True``, a mapping or a `llmguard.drift.DriftConfig`; None or False: off."""
    db: str = "sqlite:///.llmguard/llmguard.db"
    """The database URL where vectors are kept (``guard.db``) unless the spec names its own."""

    def configured(self) -> bool:
        """Drift is on (`drift_on`)."""
        return drift_on(self.spec)

    @classmethod
    def resolve(cls, guard: Guard) -> DriftOptions:
        """Drift's options: the argument, else the config file."""
        return cls(spec=_first(guard.drift, _file(guard, "drift")), db=guard.settings.db)


def drift_on(spec: Any) -> bool:
    """A drift spec that turns drift on: not None, not False, not a table with ``enabled = false``."""
    return not (spec is None or spec is False or (isinstance(spec, dict) and spec.get("enabled") is False))


FEATURE_OPTIONS: tuple[type[Any], ...] = (
    ProviderOptions,
    ExtensionOptions,
    TelemetryFeatureOptions,
    PromptOptions,
    JudgingOptions,
    FeedbackOptions,
    DriftOptions,
    CostOptions,
    PricingOptions,
)
"""Every feature's options type (the core's own scalar settings are `llmguard._settings.Settings`)."""


def feature_guard_keys() -> frozenset[str]:
    """The `llmguard.Guard` keywords the features own."""
    return frozenset(key for options in FEATURE_OPTIONS for key in options.GUARD_KEYS)


def feature_file_keys() -> frozenset[str]:
    """The config-file keys the features read."""
    return frozenset(key for options in FEATURE_OPTIONS for key in options.FILE_KEYS)
