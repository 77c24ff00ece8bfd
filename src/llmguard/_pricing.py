"""Token cost in USD: user overrides first, then the offline ``genai-prices`` table.

The core calls the pricer once per call, in its finish step, with the provider, the **served**
model and the call's `llmguard.Usage`; spans, metrics and the ledger all read that one
figure from the record.

Speed: ``genai_prices.calc_price`` matches the model and walks its unit registry on every call
(~150-200 µs). Here the price entry is resolved once per (provider, model) and turned into plain
`decimal.Decimal` rates; the per-call work is a handful of Decimal multiplications
(~3 µs). Tiered prices (a cliff on the total input tokens) and dated prices are handled by the
same arithmetic; prices with a per-request fee fall back to genai-prices' own calculation.

Token accounting (as genai-prices defines it): ``input_tokens`` includes cache reads and writes,
``output_tokens`` includes reasoning. A cache or reasoning share is subtracted from its parent and
priced at its own rate only when the model has that rate; otherwise it is billed at the parent's
rate. ``genai-prices`` is imported lazily, on the first call whose model no override covers, and
its table is read one provider at a time from a cache file (`llmguard._price_snapshot`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ._contract import Links, Parts
from ._internal import advise_once
from ._options import PricingOptions
from ._record import Cost, Usage, build_cost
from .exceptions import ConfigurationError

if TYPE_CHECKING:
    from ._guard import Guard

__all__ = [
    "FEATURE",
    "PROVIDER_IDS",
    "Price",
    "PriceTable",
    "PricingFeature",
    "build_pricer",
    "parse_prices",
    "pricer_from",
]

PROVIDER_IDS: dict[str, str] = {
    "openai": "openai",
    "azure.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "anthropic": "anthropic",
    "aws.bedrock": "aws",
    "gcp.vertex_ai": "google",
    "gcp.gemini": "google",
    "groq": "groq",
    "deepseek": "deepseek",
    "mistral_ai": "mistral",
    "x_ai": "x-ai",
    "perplexity": "perplexity",
    "together_ai": "together",
    "fireworks_ai": "fireworks",
    "openrouter": "openrouter",
    "cohere": "cohere",
    "moonshot_ai": "moonshotai",
}
"""``gen_ai.provider.name`` -> genai-prices provider id. Other providers are matched by model name."""

_MILLION = Decimal(1_000_000)
_ZERO = Decimal(0)
_INF = float("inf")
_MAX_ENTRIES = 4096
_PRICE_FIELDS = ("input", "output", "cache_read", "cache_write", "reasoning")
_GENAI_KEYS = {
    "input_mtok": "input",
    "output_mtok": "output",
    "cache_read_mtok": "cache_read",
    "cache_write_mtok": "cache_write",
    "output_reasoning_mtok": "reasoning",
}

Rate = Decimal | tuple[Decimal, tuple[tuple[int, Decimal], ...]]
"""A price per million tokens: flat, or (base, ((threshold, price), ...)) for a tiered cliff."""


def _decimal(value: object, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ConfigurationError(f"{where}: expected a number of USD per million tokens, got {value!r}")
    try:
        number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    except ArithmeticError:
        raise ConfigurationError(f"{where}: {value!r} is not a number") from None
    if not number.is_finite() or number < 0:
        raise ConfigurationError(f"{where}: a price must be a finite number >= 0, got {value!r}")
    return number


@dataclass(frozen=True, slots=True, init=False)
class Price:
    """A price override in USD per **million** tokens.

    A missing cache or reasoning price bills those tokens at the input or output price.

    Args:
        input: Uncached input tokens.
        output: Output tokens (reasoning included unless ``reasoning`` is given).
        cache_read: Input tokens read from the prompt cache.
        cache_write: Input tokens written to the prompt cache.
        reasoning: Reasoning (thinking) output tokens.
    """

    input: Decimal
    output: Decimal
    cache_read: Decimal | None
    cache_write: Decimal | None
    reasoning: Decimal | None

    def __init__(
        self,
        input: float | str | Decimal,  # the natural name in a price table
        output: float | str | Decimal,
        cache_read: float | str | Decimal | None = None,
        cache_write: float | str | Decimal | None = None,
        reasoning: float | str | Decimal | None = None,
    ) -> None:
        values = {
            "input": input,
            "output": output,
            "cache_read": cache_read,
            "cache_write": cache_write,
            "reasoning": reasoning,
        }
        for name, value in values.items():
            object.__setattr__(self, name, None if value is None else _decimal(value, f"Price {name}"))

    @classmethod
    def of(cls, value: Price | Mapping[str, Any], where: str = "prices") -> Price:
        """Build a price from a `Price` or a mapping such as ``{"input": 1.0, "output": 2.0}``."""
        if isinstance(value, Price):
            return value
        if not isinstance(value, Mapping):
            raise ConfigurationError(f"{where}: expected a table of prices per million tokens, got {value!r}")
        unknown = sorted(set(value) - set(_PRICE_FIELDS))
        if unknown or "input" not in value or "output" not in value:
            raise ConfigurationError(
                f"{where}: a price needs 'input' and 'output' (optional: cache_read, cache_write, reasoning)"
                + (f"; unknown key {unknown[0]!r}" if unknown else "")
            )
        try:
            return cls(**value)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{where}: {exc}") from None


def parse_prices(*tables: Any) -> dict[str, Price]:
    """Merge price override tables (later tables win), each ``{model: Price | {input, output, ...}}``."""
    merged: dict[str, Price] = {}
    for table in tables:
        if table is None:
            continue
        if not isinstance(table, Mapping):
            raise ConfigurationError(f"prices: expected a mapping of model -> price, got {table!r}")
        for model, value in table.items():
            merged[str(model)] = Price.of(value, f"prices[{model!r}]")
    return merged


# -- resolved rates and the per-call arithmetic -----------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Rates:
    input: Rate | None
    output: Rate | None
    cache_read: Rate | None
    cache_write: Rate | None
    reasoning: Rate | None
    source: str
    data_version: str | None


def _rate(rate: Rate | None, total_input: int) -> Decimal:
    if rate is None:
        return _ZERO
    if isinstance(rate, Decimal):
        return rate
    base, tiers = rate
    for start, price in reversed(tiers):
        if total_input > start:
            return price
    return base


def compute_cost(rates: _Rates, usage: Usage) -> Cost | None:
    """The cost of ``usage`` at ``rates``; ``None`` when the usage is inconsistent (cache > input)."""
    inp = usage.input_tokens or 0
    out = usage.output_tokens or 0
    read = (usage.cache_read_tokens or 0) if rates.cache_read is not None else 0
    write = (usage.cache_write_tokens or 0) if rates.cache_write is not None else 0
    reasoning = (usage.reasoning_tokens or 0) if rates.reasoning is not None else 0
    if read + write > inp or reasoning > out:
        return None
    # Zero token counts (most calls read no cache and reason not at all) cost no Decimal arithmetic.
    read_cost = _rate(rates.cache_read, inp) * read / _MILLION if read else _ZERO
    write_cost = _rate(rates.cache_write, inp) * write / _MILLION if write else _ZERO
    rate = rates.input  # flat rates (most models) without the `_rate` call
    input_cost = (rate if type(rate) is Decimal else _rate(rate, inp)) * (inp - read - write) / _MILLION
    if read or write:
        input_cost += read_cost + write_cost
    rate = rates.output
    output_cost = (rate if type(rate) is Decimal else _rate(rate, inp)) * (out - reasoning) / _MILLION
    if reasoning:
        output_cost += _rate(rates.reasoning, inp) * reasoning / _MILLION
    return build_cost(
        input_cost + output_cost,
        input_cost,
        output_cost,
        read_cost,
        write_cost,
        rates.source,
        rates.data_version,
    )


def _override_rates(price: Price) -> _Rates:
    return _Rates(
        price.input, price.output, price.cache_read, price.cache_write, price.reasoning, "override", None
    )


# -- genai-prices entries ---------------------------------------------------------------------------
class _Entry:
    """One (provider, model) resolved against genai-prices: rates cached until a dated price changes."""

    __slots__ = ("dated", "expires", "model", "per_call", "provider", "rates", "version")

    def __init__(self, provider: Any, model: Any, version: str) -> None:
        from genai_prices import types

        self.provider = provider
        self.model = model
        self.version = version
        prices = model.prices
        self.dated = not isinstance(prices, types.ModelPrice)
        # Time-of-day prices (off-peak discounts) change within a day: resolve them on every call.
        self.per_call = self.dated and any(
            isinstance(c.constraint, types.TimeOfDateConstraint) for c in prices
        )
        self.expires = float("inf")
        self.rates: _Rates | None = None
        self._resolve(time.time())

    def _resolve(self, now: float) -> None:
        stamp = datetime.fromtimestamp(now, tz=UTC)
        self.rates = _rates_from(self.model.get_prices(stamp), self.version)
        if self.dated and not self.per_call:
            self.expires = _next_start(self.model.prices, stamp.date())

    def cost(self, usage: Usage) -> Cost | None:
        """The cost of one call's usage (``None`` when the usage is inconsistent)."""
        if self.per_call or self.expires != _INF:
            now = time.time()
            if self.per_call or now >= self.expires:
                self._resolve(now)
        if self.rates is not None:
            return compute_cost(self.rates, usage)
        return self._calc(usage)

    def _calc(self, usage: Usage) -> Cost | None:
        from genai_prices import Usage as PricesUsage

        calc = self.model.calc_price(to_genai_usage(usage, PricesUsage), self.provider)
        return Cost(
            total=calc.total_price,
            input=calc.input_price,
            output=calc.output_price,
            source="genai-prices",
            data_version=self.version,
        )


def _rates_from(model_price: Any, version: str) -> _Rates | None:
    """Flat or tiered token rates, or ``None`` when the price has a fee our arithmetic does not cover."""
    from genai_prices import types
    from genai_prices.units import _get_registry

    registry = _get_registry()
    rates: dict[str, Rate] = {}
    for key, value in model_price.__dict__.items():
        if value is None or key.startswith("_"):
            continue
        field = _GENAI_KEYS.get(key)
        if field is None:
            try:
                unit = registry.unit_for_price_key(key)
            except KeyError:
                continue
            if unit.usage_key == "requests":
                return None
            continue  # a unit llmguard never reports (audio, searches...): billed 0, subtracts 0
        if isinstance(value, types.TieredPrices):
            rates[field] = (value.base, tuple((t.start, t.price) for t in value.tiers))
        else:
            rates[field] = value
    return _Rates(
        **{name: rates.get(name) for name in _PRICE_FIELDS}, source="genai-prices", data_version=version
    )


def _next_start(prices: Any, today: date) -> float:
    starts = [
        c.constraint.start_date
        for c in prices
        if c.constraint is not None
        and hasattr(c.constraint, "start_date")
        and c.constraint.start_date > today
    ]
    if not starts:
        return float("inf")
    first = min(starts)
    return datetime(first.year, first.month, first.day, tzinfo=UTC).timestamp()


def to_genai_usage(usage: Usage, factory: Callable[..., Any]) -> Any:
    """Build a ``genai_prices.Usage`` (via ``factory``) with the same meaning as ``usage``."""
    return factory(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_tokens or None,
        cache_write_tokens=usage.cache_write_tokens or None,
        output_reasoning_tokens=usage.reasoning_tokens or None,
    )


# -- the pricer -------------------------------------------------------------------------------------
class PriceTable:
    """The pricer a guard uses: ``table(provider, served_model, usage) -> Cost | None``.

    Args:
        overrides: Model -> `Price` (or a mapping of its fields); an exact model name wins, then the longest override ``name``
            such that the model is ``name-<suffix>`` (a dated snapshot of it).
        bundled: Consult the genai-prices table for models without an override.
    """

    def __init__(
        self, overrides: Mapping[str, Price | Mapping[str, Any]] | None = None, *, bundled: bool = True
    ) -> None:
        self._overrides = {model: _override_rates(price) for model, price in parse_prices(overrides).items()}
        self._by_length = sorted(self._overrides, key=len, reverse=True)
        self._bundled = bundled
        self._entries: dict[tuple[str, str], _Entry | _Rates | None] = {}
        self._version: str | None = None

    def __call__(self, provider: str, model: str | None, usage: Usage) -> Cost | None:
        """Price one call; ``None`` when the model has no known price (warned once per model)."""
        if model is None:
            return None
        key = (provider, model)
        try:
            entry = self._entries[key]
        except KeyError:
            entry = self._resolve(provider, model)
        if entry is None:
            return None
        if isinstance(entry, _Rates):
            return compute_cost(entry, usage)
        return entry.cost(usage)

    def _resolve(self, provider: str, model: str) -> _Entry | _Rates | None:
        entry: _Entry | _Rates | None = self._override(model)
        if entry is None and self._bundled:
            entry = self._lookup(provider, model)
        if entry is None:
            advise_once(
                "unpriced",
                f"{provider}:{model}",
                f"llmguard: no price known for model {model!r} ({provider}); its calls have no cost. "
                f"Give one with Guard(prices={{{model!r}: {{'input': ..., 'output': ...}}}}) (USD per million tokens)",
            )
        if len(self._entries) < _MAX_ENTRIES:
            self._entries[(provider, model)] = entry
        return entry

    def _override(self, model: str) -> _Rates | None:
        exact = self._overrides.get(model)
        if exact is not None:
            return exact
        for name in self._by_length:
            if model.startswith(name + "-"):
                return self._overrides[name]
        return None

    def _lookup(self, provider: str, model: str) -> _Entry | None:
        from ._price_snapshot import current_snapshot

        snapshot = current_snapshot()
        try:
            found = snapshot.find_provider_model(model, None, PROVIDER_IDS.get(provider), None)
        except LookupError:
            if provider not in PROVIDER_IDS:
                return None
            try:  # an unknown provider id for this model: match by model name alone
                found = snapshot.find_provider_model(model, None, None, None)
            except LookupError:
                return None
        return _Entry(found[0], found[1], self._data_version(snapshot))

    def _data_version(self, snapshot: Any) -> str:
        if self._version is None:
            import genai_prices

            version = f"genai-prices {genai_prices.__version__}"
            if snapshot.from_auto_update:
                version += f" ({snapshot.timestamp.isoformat(timespec='seconds')})"
            self._version = version
        return self._version


def pricer_from(options: PricingOptions) -> PriceTable:
    """The pricer: ``[tool.llmguard.prices]`` from the config file, then ``Guard(prices=...)`` on top."""
    if isinstance(options.prices, PriceTable):
        return options.prices
    return PriceTable(parse_prices(options.file_prices, options.prices))


def build_pricer(guard: Guard) -> PriceTable:
    """The guard's pricer (see `pricer_from`)."""
    return pricer_from(PricingOptions.resolve(guard))


class PricingFeature:
    """The pricing `llmguard._contract.Feature`: the pricer the core prices each call with, once."""

    name = "pricing"

    def options(self, guard: Guard) -> PricingOptions:
        """Price overrides from the config file and the argument."""
        return PricingOptions.resolve(guard)

    def build(self, options: PricingOptions, links: Links) -> Parts:
        """The price table."""
        return Parts(pricer=pricer_from(options))


FEATURE = PricingFeature()
"""The pricing feature, as `llmguard._features.FEATURES` names it."""
