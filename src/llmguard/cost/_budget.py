"""Budgets: USD limits per service, prompt, model, provider, kind, user, session, tag or metadata, per UTC day or month.

``per="user"`` (or ``"session"``, ``"tag"``, ``"metadata.<key>"``) keeps one total per distinct value
of the call context (`llmguard.context`): each user gets the limit, and a hard limit refuses only the
calls of the user who used theirs up. Calls without that value (no user) are not counted by it.

A soft limit alerts when the spend reaches it; an optional hard limit makes the guard refuse new
calls with `llmguard.BudgetExceededError` before any I/O (a pre-call policy). The check
is O(1) on the hot path: it reads in-memory running totals that the ledger observer updates as
calls finish, seeded from the ledger when the guard starts. Unpriced calls (cost ``None``) are
never counted as $0 and never block.

Totals are per process (plus what the ledger held at start-up); several processes sharing a
budget each enforce it on their own view.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from llmguard._db import after_fork
from llmguard.exceptions import BudgetExceededError

from ._ledger import NANOS, TABLE, Ledger
from ._rules import Alert
from ._series import metadata_path, where_sql

if TYPE_CHECKING:
    from llmguard._core import CallContext, PreCallPolicy
    from llmguard._guard import Guard
    from llmguard._scope import ContextValues

__all__ = [
    "PER",
    "SCOPES",
    "Budget",
    "BudgetTracker",
    "UTCClock",
    "budget_groups_sql",
    "build_policy",
    "context_scope",
]

Period = Literal["day", "month"]
SCOPES: tuple[str, ...] = ("service", "prompt", "model", "provider", "kind", "user", "session", "tag")
"""Budget filters; several combine with AND, none means every call."""
PER: tuple[str, ...] = ("user", "session", "tag")
"""Values of ``Budget.per`` besides ``metadata.<key>``."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Budget:
    """A spending limit in USD over a UTC day or month.

    Attributes:
        soft_usd: Alert when the spend reaches this.
        hard_usd: Refuse new calls once the spend reaches this (opt-in).
        period: ``day`` or ``month`` (UTC calendar windows).
        service: Only calls of this service.
        prompt: Only calls built from this registry prompt.
        model: Only calls to this model (requested or sent).
        provider: Only calls to this provider (``openai``, ``anthropic``...).
        kind: ``app``, ``judge`` or ``drift`` (input-drift embedding) calls only.
        user: Only calls made for this user (the call context's ``user_id``).
        session: Only calls of this session.
        tag: Only calls carrying this tag.
        metadata: Only calls whose context metadata has all these key/value pairs.
        per: Keep a separate total, and limit, per ``user``, ``session``, ``tag`` or ``metadata.<key>``.
        project: For monthly budgets, also alert when the month-end projection exceeds the limit.
        name: A stable id for alerts and errors.
    """

    soft_usd: float | None = None
    hard_usd: float | None = None
    period: Period = "day"
    service: str | None = None
    prompt: str | None = None
    model: str | None = None
    provider: str | None = None
    kind: str | None = None
    user: str | None = None
    session: str | None = None
    tag: str | None = None
    metadata: Mapping[str, str] | None = None
    per: str | None = None
    project: bool = True
    name: str | None = None

    def __post_init__(self) -> None:
        if self.period not in ("day", "month"):
            raise ValueError(f"Budget period {self.period!r}: use 'day' or 'month'")
        if self.soft_usd is None and self.hard_usd is None:
            raise ValueError("Budget needs soft_usd, hard_usd or both")
        if self.per is not None and self.per not in PER and not _metadata_key(self.per):
            raise ValueError(f"Budget per {self.per!r}: use 'user', 'session', 'tag' or 'metadata.<key>'")
        if self.metadata is not None and not (
            isinstance(self.metadata, Mapping)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in self.metadata.items())
        ):
            raise ValueError(f"Budget metadata {self.metadata!r}: expected a table of strings")

    @property
    def where(self) -> dict[str, str]:
        """The budget's filters as a ledger ``where`` mapping (metadata as ``metadata.<key>``)."""
        where = {key: value for key in SCOPES if (value := getattr(self, key)) is not None}
        for key, value in (self.metadata or {}).items():
            where[f"metadata.{key}"] = value
        return where

    @property
    def id(self) -> str:
        """The id used in alerts and errors."""
        if self.name:
            return self.name
        scope = ",".join(f"{k}={v}" for k, v in self.where.items())
        per = f"(per {self.per})" if self.per else ""
        return f"budget:{self.period}" + (f"[{scope}]" if scope else "") + per

    def matches(self, values: Mapping[str, Any]) -> bool:
        """Whether a call with these scope values counts against this budget."""
        return _matches(tuple(self.where.items()), values)


def _metadata_key(per: str) -> bool:
    return per.startswith("metadata.") and len(per) > len("metadata.")


def _matches(filters: tuple[tuple[str, str], ...], values: Mapping[str, Any]) -> bool:
    for key, expected in filters:
        if key == "tag":
            if expected not in values.get("tags", ()):
                return False
        elif expected != values.get(key) and (key != "model" or expected != values.get("_model")):
            return False
    return True


def _groups(per: str, values: Mapping[str, Any]) -> tuple[str, ...]:
    """The group keys a call counts under for a ``per`` budget (none: it is not counted)."""
    if per == "tag":
        tags: tuple[str, ...] = values.get("tags", ())
        return tags
    value = values.get(per)
    return (value,) if isinstance(value, str) else ()


def context_scope(scope: ContextValues, values: dict[str, Any]) -> None:
    """Add a call context's budget scope values (``user``, ``session``, ``tags``, ``metadata.<key>``)."""
    values["user"] = scope.user_id
    values["session"] = scope.session_id
    values["tags"] = scope.tags
    for key, value in scope.metadata.items():
        values[f"metadata.{key}"] = value


class UTCClock:
    """UTC day (``2025-03-20``) and month (``2025-03``) keys of epoch-ns timestamps, cached per day."""

    __slots__ = ("_cache",)

    def __init__(self) -> None:
        self._cache = (0, 0, "", "")

    def keys(self, ts_ns: int) -> tuple[str, str]:
        """(day, month) of ``ts_ns``."""
        start, end, day, month = self._cache
        if not start <= ts_ns < end:
            midnight = datetime.fromtimestamp(ts_ns / 1e9, UTC).replace(
                hour=0, minute=0, second=0, microsecond=0
            )
            start = int(midnight.timestamp()) * 1_000_000_000
            day, month = midnight.strftime("%Y-%m-%d"), midnight.strftime("%Y-%m")
            self._cache = (start, start + 86_400 * 1_000_000_000, day, month)  # one atomic swap
        return day, month


class _State:
    __slots__ = ("budget", "daily", "filters", "groups", "hard", "over", "per", "soft", "spent", "window")

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.filters = tuple(budget.where.items())
        self.daily = budget.period == "day"
        self.soft = None if budget.soft_usd is None else round(budget.soft_usd * NANOS)
        self.hard = None if budget.hard_usd is None else round(budget.hard_usd * NANOS)
        self.per = budget.per
        self.window = ""
        self.spent = 0
        self.groups: dict[str, int] = {}
        """For ``per`` budgets: nano-USD per group in the window."""
        self.over: set[str] = set()
        """For ``per`` budgets: groups at or over the hard limit in the window."""

    def reset(self, window: str) -> None:
        self.window, self.spent = window, 0
        self.groups = {}
        self.over = set()


class BudgetTracker:
    """In-memory running totals per budget and window; the hard-budget check reads only these.

    Args:
        budgets: The budgets to track.
        on_alert: Called (inline, keep it cheap: queue it) when a soft or hard limit is reached.
    """

    def __init__(self, budgets: Sequence[Budget], on_alert: Callable[[Alert], None] | None = None) -> None:
        self._states = [_State(b) for b in budgets]
        self._hard = [s for s in self._states if s.hard is not None]
        self._on_alert = on_alert
        self._clock = UTCClock()
        self._lock = threading.Lock()
        after_fork(self)  # a fresh lock in a forked child

    @property
    def has_hard_limits(self) -> bool:
        """Whether any budget has a hard limit."""
        return bool(self._hard)

    def add(self, values: Mapping[str, Any], ts_ns: int, nanos: int) -> None:
        """Count ``nanos`` nano-USD spent at ``ts_ns`` by a call with scope ``values``."""
        day, month = self._clock.keys(ts_ns)
        fired: list[tuple[_State, int, str, str | None, int]] = []
        with self._lock:
            for state in self._states:
                if state.filters and not _matches(state.filters, values):
                    continue
                window = day if state.daily else month
                if state.window != window:
                    if window < state.window:
                        continue  # a late record of a closed window
                    state.reset(window)
                if state.per is None:
                    before = state.spent
                    state.spent = before + nanos
                    fired += [
                        (state, lim, window, None, state.spent)
                        for lim in _crossed(state, before, state.spent)
                    ]
                    continue
                for group in _groups(state.per, values):
                    before = state.groups.get(group, 0)
                    after = state.groups[group] = before + nanos
                    if state.hard is not None and after >= state.hard:
                        state.over.add(group)
                    fired += [(state, lim, window, group, after) for lim in _crossed(state, before, after)]
        for state, limit, window, key, spent in fired:
            self._alert(state, limit, window, key, spent)

    def _alert(self, state: _State, limit: int, window: str, group: str | None, spent: int) -> None:
        if self._on_alert is None:
            return
        budget = state.budget
        hard = limit == state.hard
        what = "hard" if hard else "soft"
        self._on_alert(budget_alert(budget, what, window, spent / NANOS, limit / NANOS, group))

    def spent(self, budget: Budget, now_ns: int | None = None, *, group: str | None = None) -> float:
        """USD spent against ``budget`` in the current window (for a ``per`` budget: by ``group``)."""
        day, month = self._clock.keys(time.time_ns() if now_ns is None else now_ns)
        for state in self._states:
            if state.budget is budget:
                if state.window != (day if budget.period == "day" else month):
                    return 0.0
                nanos = state.spent if state.per is None else state.groups.get(group or "", 0)
                return nanos / NANOS
        raise KeyError(budget.id)

    def check(self, call: CallContext) -> None:
        """Raise `llmguard.BudgetExceededError` when a matching hard budget is used up."""
        day, month = self._clock.keys(time.time_ns())
        values: dict[str, Any] | None = None
        for state in self._hard:
            assert state.hard is not None
            if state.window != (day if state.daily else month):
                continue
            if state.per is None and state.spent < state.hard:
                continue
            if state.per is not None and not state.over:
                continue
            if values is None:
                values = call_scope(call)
            if not _matches(state.filters, values):
                continue
            if state.per is None:
                self._refuse(state, state.spent, None)
            for group in _groups(state.per, values) if state.per is not None else ():
                if group in state.over:
                    self._refuse(state, state.groups.get(group, 0), group)

    @staticmethod
    def _refuse(state: _State, spent: int, group: str | None) -> None:
        assert state.hard is not None
        who = "" if group is None else f" for {state.per}={group!r}"
        raise BudgetExceededError(
            f"hard budget {state.budget.id} is used up{who}: ${spent / NANOS:,.2f} spent of "
            f"${state.hard / NANOS:,.2f} this {state.budget.period}; the call was refused before any "
            "network I/O (raise the limit or wait for the next window)"
        )

    def seed(self, ledger: Ledger, now_ns: int | None = None) -> None:
        """Start each budget's current window from what the ledger already holds."""
        day, month = self._clock.keys(time.time_ns() if now_ns is None else now_ns)
        for state in self._states:
            window = day if state.budget.period == "day" else month
            if state.per is None:
                sql, params = budget_sum_sql(state.budget, window)
                total = ledger.query(sql, params)[0][0]
                with self._lock:
                    state.reset(window)
                    state.spent = int(total or 0)
                continue
            sql, params = budget_groups_sql(state.budget, window)
            rows = ledger.query(sql, params)
            with self._lock:
                state.reset(window)
                for group, nanos in rows:
                    state.groups[str(group)] = int(nanos or 0)
                    if state.hard is not None and int(nanos or 0) >= state.hard:
                        state.over.add(str(group))


def _crossed(state: _State, before: int, after: int) -> list[int]:
    return [limit for limit in (state.soft, state.hard) if limit is not None and before < limit <= after]


def budget_alert(
    budget: Budget, what: str, window: str, spent: float, limit: float, group: str | None
) -> Alert:
    """The alert of ``budget``'s soft or hard limit reached (by ``group`` for a ``per`` budget)."""
    who = "" if group is None else f" for {budget.per}={group!r}"
    rule = f"{budget.id}:{what}" if group is None else f"{budget.id}[{budget.per}={group}]:{what}"
    message = (
        f"{budget.id}: spend ${spent:,.2f}{who} this {budget.period} ({window}) reached the "
        f"{what} budget ${limit:,.2f}" + ("; new calls are refused" if what == "hard" else "")
    )
    severity: Literal["warning", "critical"] = "critical" if what == "hard" else "warning"
    scope = budget.where if group is None or budget.per is None else {**budget.where, budget.per: group}
    return Alert(rule, "budget", "cost", window, spent, limit, message, severity, scope)


def _window_where(budget: Budget, window: str) -> tuple[str, list[Any]]:
    column = "day" if budget.period == "day" else "substr(day, 1, 7)"
    cond, params = where_sql(budget.where)
    return f"{column} = ?{cond}", [window, *params]


def budget_sum_sql(budget: Budget, window: str) -> tuple[str, list[Any]]:
    """SQL (and parameters) summing a budget's spend in nano-USD over ``window`` (a day or a month)."""
    cond, params = _window_where(budget, window)
    return f"SELECT SUM(cost_nanos) FROM {TABLE} WHERE {cond}", params


def budget_groups_sql(budget: Budget, window: str) -> tuple[str, list[Any]]:
    """SQL (and parameters) of a ``per`` budget's spend by group: rows of (group, nano-USD)."""
    cond, params = _window_where(budget, window)
    per = budget.per or ""
    if per == "tag":
        return (
            f"SELECT g.value, SUM(cost_nanos) FROM {TABLE}, json_each({TABLE}.tags) AS g "
            f"WHERE {cond} GROUP BY g.value",
            params,
        )
    if per in ("user", "session"):
        column = f"{per}_id"
        return (
            f"SELECT {column}, SUM(cost_nanos) FROM {TABLE} WHERE {cond} AND {column} IS NOT NULL GROUP BY {column}",
            params,
        )
    path = metadata_path(per[len("metadata.") :])
    return (
        f"SELECT json_extract(metadata, ?) AS g, SUM(cost_nanos) FROM {TABLE} WHERE {cond} "
        "AND g IS NOT NULL GROUP BY g",
        [path, *params],
    )


def call_scope(call: CallContext) -> dict[str, Any]:
    """Scope values of an in-flight call (``_model`` holds the requested alias)."""
    values = {
        "service": call.runtime.settings.service_name,
        "prompt": call.prompt.name if call.prompt else None,
        "model": call.request_model,
        "_model": call.requested_model,
        "provider": call.info.provider,
        "kind": call.kind,
    }
    if call.scope is not None:
        context_scope(call.scope, values)
    return values


def build_policy(guard: Guard) -> PreCallPolicy | None:
    """The hard-budget pre-call policy of ``guard``, or None when no budget has a hard limit.

    Hard budgets fail closed: when the cost state cannot be built (an internal error, a broken
    ledger) and the configuration declares a hard limit, every call is refused with
    `llmguard.PolicyUnavailableError` naming the cause instead of going out unbudgeted.
    """
    from ._state import state_for

    try:
        state = state_for(guard)
    except Exception as exc:
        if not _declares_hard_limit(guard):
            raise
        return _refusing(exc)
    if state is None or state.tracker is None or not state.tracker.has_hard_limits:
        return None
    return state.tracker.check


def _declares_hard_limit(guard: Guard) -> bool:
    """Whether the guard's budgets declare a hard limit (True when that cannot be told)."""
    from ._config import resolve_policy

    try:
        return any(b.hard_usd is not None for b in resolve_policy(guard).budgets)
    except Exception:
        raw = guard.budgets if guard.budgets is not None else guard.settings.file_settings.get("budgets")
        return _mentions_hard(raw, depth=0)


def _mentions_hard(value: object, depth: int) -> bool:
    if depth > 8:
        return True
    if isinstance(value, Budget):
        return value.hard_usd is not None
    if isinstance(value, Mapping):
        if value.get("hard_usd") is not None:
            return True
        return any(_mentions_hard(v, depth + 1) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_mentions_hard(v, depth + 1) for v in value)
    return False


def _refusing(error: Exception) -> PreCallPolicy:
    from llmguard._policy import unavailable

    def refuse(call: CallContext) -> None:
        raise unavailable("hard budgets", error) from error

    return refuse
