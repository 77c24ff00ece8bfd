"""Cost configuration: the ``budgets`` and ``ledger`` slots of a Guard, from code or config file.

``[tool.llmguard.budgets]`` (or ``llmguard.toml``'s ``[budgets]``)::

    ledger = true                 # or a database path; off unless enabled
    retention_days = 90
    flush_interval_s = 0.1        # the ledger writer's wake-up (the kill -9 loss window)
    max_write_lag_s = 0.2         # a busy process waits for a writer this late (0: never)
    check_interval_s = 3600
    limits = [{ prompt = "support-bot", period = "month", soft_usd = 500, hard_usd = 800 }]
    rules = [{ type = "baseline", series = "cost", multiplier = 3.0, days = 7, min_value = 10 }]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmguard._options import CostOptions
from llmguard.exceptions import ConfigurationError

from ._budget import Budget
from ._ledger import Ledger, SQLiteLedger
from ._rules import Alert, BaselineRule, ProjectionRule, Rule, ZScoreRule

if TYPE_CHECKING:
    from llmguard._guard import Guard

__all__ = ["CostPolicy", "open_ledger", "resolve_ledger", "resolve_policy"]

_RULE_TYPES: dict[str, type[BaselineRule] | type[ZScoreRule] | type[ProjectionRule]] = {
    "baseline": BaselineRule,
    "zscore": ZScoreRule,
    "projection": ProjectionRule,
}


@dataclass(frozen=True, kw_only=True, slots=True)
class CostPolicy:
    """Budgets, anomaly rules and alert delivery: the value of a Guard's ``budgets`` slot.

    Attributes:
        budgets: Spending limits (soft alerts, optional hard refusal).
        rules: Anomaly rules evaluated over the ledger.
        callbacks: Called with each new alert, on a background thread.
        check_interval_s: Seconds between background rule evaluations (0 disables them;
            `llmguard.cost.check_alerts` evaluates on demand).
        queue_size: Calls held in memory at most while the writer catches up (more are dropped,
            counted and logged once): the hard bound on the rows a ``kill -9`` can lose.
        flush_interval_s: Seconds between the ledger writer's wake-ups: the time bound of the rows
            a ``kill -9`` can lose (plus the write itself; see the cost docs for measured figures).
        max_write_lag_s: When the ledger writer has written nothing for this long while rows wait
            (threads keeping the interpreter lock busy starve it), a finishing call waits up to
            5 ms for it, so the loss window's time bound holds in a CPU-bound process too. 0 never
            waits: the window then grows with the starvation (seconds, see the cost docs). A store
            that takes longer than this to write a batch (a distant PostgreSQL) meets it too:
            raise it above that store's batch time.
        retention_days: Ledger rows older than this are pruned (used when the ledger is built
            from ``ledger=True`` or a path).
        refresh_interval_s: Seconds between refreshes of the budgets' totals from the shared
            ledger (every process and replica writing to it), on the writer thread: the hot-path
            check never waits for the database. Part of the overshoot bound (docs/cost.md).
        stale_after_s: A hard budget whose shared totals could not be refreshed for this long
            refuses calls with `llmguard.PolicyUnavailableError` (fail closed) until a refresh works.
    """

    budgets: Sequence[Budget] = ()
    rules: Sequence[Rule] = ()
    callbacks: Sequence[Callable[[Alert], None]] = ()
    check_interval_s: float = 3600.0
    retention_days: float | None = 90.0
    queue_size: int = 20_000
    flush_interval_s: float = 0.1
    max_write_lag_s: float = 0.2
    refresh_interval_s: float = 1.0
    stale_after_s: float = 60.0
    ledger: Any = field(default=None, repr=False)
    """The ``ledger`` value from a config file, if any."""

    def __post_init__(self) -> None:
        for key in ("flush_interval_s", "refresh_interval_s", "stale_after_s"):
            interval = getattr(self, key)
            if (
                isinstance(interval, bool)
                or not isinstance(interval, int | float)
                or not 0 < interval <= 86_400
            ):
                raise ConfigurationError(f"budgets {key}: expected seconds in (0, 86400], got {interval!r}")
        lag = self.max_write_lag_s
        if isinstance(lag, bool) or not isinstance(lag, int | float) or not 0 <= lag <= 86_400:
            raise ConfigurationError(f"budgets max_write_lag_s: expected seconds in [0, 86400], got {lag!r}")
        if self.stale_after_s <= self.refresh_interval_s:
            raise ConfigurationError(
                f"budgets stale_after_s ({self.stale_after_s}) must exceed refresh_interval_s "
                f"({self.refresh_interval_s})"
            )

    @property
    def empty(self) -> bool:
        """Nothing to track or evaluate."""
        return not (self.budgets or self.rules)


def _build(cls: type[Any], data: Mapping[str, Any], where: str) -> Any:
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigurationError(
            f"{where}: unknown key {unknown[0]!r}; valid keys: {', '.join(sorted(names))}"
        )
    try:
        return cls(**data)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"{where}: {exc}") from exc


def _rule(data: Mapping[str, Any], where: str) -> Rule:
    spec = dict(data)
    kind = spec.pop("type", "baseline")
    if kind not in _RULE_TYPES:
        raise ConfigurationError(f"{where}: unknown rule type {kind!r}; valid: {', '.join(_RULE_TYPES)}")
    rule: Rule = _build(_RULE_TYPES[kind], spec, where)
    return rule


def policy_from_table(table: Mapping[str, Any], where: str = "[tool.llmguard.budgets]") -> CostPolicy:
    """Parse a config-file budgets table."""
    known = {
        "ledger",
        "retention_days",
        "check_interval_s",
        "queue_size",
        "flush_interval_s",
        "max_write_lag_s",
        "limits",
        "rules",
    }
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigurationError(
            f"{where}: unknown key {unknown[0]!r}; valid keys: {', '.join(sorted(known))}"
        )
    budgets = [_build(Budget, b, f"{where} limits[{i}]") for i, b in _tables(table, "limits", where)]
    rules = [_rule(r, f"{where} rules[{i}]") for i, r in _tables(table, "rules", where)]
    retention = table.get("retention_days", 90.0)
    return CostPolicy(
        budgets=budgets,
        rules=rules,
        check_interval_s=_number(table.get("check_interval_s", 3600.0), f"{where} check_interval_s"),
        retention_days=None if retention is None else _number(retention, f"{where} retention_days"),
        queue_size=int(_number(table.get("queue_size", 20_000), f"{where} queue_size", integer=True)),
        flush_interval_s=_number(table.get("flush_interval_s", 0.1), f"{where} flush_interval_s"),
        max_write_lag_s=_number(table.get("max_write_lag_s", 0.2), f"{where} max_write_lag_s"),
        ledger=table.get("ledger"),
    )


def _tables(table: Mapping[str, Any], key: str, where: str) -> list[tuple[int, Mapping[str, Any]]]:
    items = table.get(key, [])
    if not isinstance(items, list | tuple) or not all(isinstance(item, Mapping) for item in items):
        raise ConfigurationError(f"{where} {key}: expected a list of tables, got {items!r}")
    return list(enumerate(items))


def _number(value: object, where: str, *, integer: bool = False) -> float:
    kinds = int if integer else int | float
    if isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value) or value < 0:
        wanted = "an integer" if integer else "a number"
        raise ConfigurationError(f"{where}: expected {wanted} >= 0, got {value!r}")
    return float(value)


def resolve_policy(source: Guard | CostOptions) -> CostPolicy:
    """The cost policy: from code (``budgets=``), else the config file, else empty."""
    options = source if isinstance(source, CostOptions) else CostOptions.resolve(source)
    value = options.budgets
    if value is None:
        table = options.file_budgets
        return policy_from_table(table) if isinstance(table, Mapping) else CostPolicy()
    if isinstance(value, CostPolicy):
        return value
    if isinstance(value, Mapping):
        return policy_from_table(value, "argument budgets")
    if isinstance(value, Budget | BaselineRule | ZScoreRule | ProjectionRule):
        value = [value]
    if isinstance(value, Sequence):
        return _from_items(value)
    raise ConfigurationError(
        f"argument budgets: expected a CostPolicy, Budget, rule or a list, got {value!r}"
    )


def _from_items(items: Sequence[Any]) -> CostPolicy:
    budgets = [item for item in items if isinstance(item, Budget)]
    rules = [item for item in items if isinstance(item, BaselineRule | ZScoreRule | ProjectionRule)]
    callbacks = [item for item in items if callable(item) and not isinstance(item, Budget | type)]
    if len(budgets) + len(rules) + len(callbacks) != len(items):
        raise ConfigurationError("argument budgets: items must be Budget, rules or alert callbacks")
    return CostPolicy(budgets=budgets, rules=rules, callbacks=callbacks)


def resolve_ledger(source: Guard | CostOptions, policy: CostPolicy) -> Ledger | None:
    """The ledger, or None when it is off.

    On when ``ledger=`` is True, a path or a `Ledger`; else from the config file
    (``ledger`` in the budgets table, or a top-level ``ledger`` key); else on when anomaly rules
    (they need history) or budgets (they need the spend of other processes and of earlier runs)
    are configured. ``ledger=False`` turns it off.
    """
    options = source if isinstance(source, CostOptions) else CostOptions.resolve(source)
    value = options.ledger
    if value is None:
        value = policy.ledger if policy.ledger is not None else options.file_ledger
    if value is None:  # rules need history; budgets need the shared spend (other processes, restarts)
        value = bool(policy.rules or policy.budgets)
    if value is False:
        return None
    if value is True:
        return open_ledger(options.db, policy.retention_days)
    if isinstance(value, str | Path):
        return open_ledger(value, policy.retention_days)
    if isinstance(value, Ledger):
        return value
    raise ConfigurationError(f"ledger: expected True, False, a path or a Ledger, got {value!r}")


def open_ledger(db: str | Path, retention_days: float | None) -> Ledger:
    """The ledger in the database ``db`` (a path or URL): the one place the cost feature builds a store."""
    return SQLiteLedger(db, retention_days=retention_days)
