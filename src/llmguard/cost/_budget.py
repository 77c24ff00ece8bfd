"""Budgets: USD limits per service, prompt, model, provider, kind, user, session, tag or metadata, per UTC day or month.

``per="user"`` (or ``"session"``, ``"tag"``, ``"metadata.<key>"``) keeps one total per distinct value
of the call context (`llmguard.context`): each user gets the limit, and a hard limit refuses only the
calls of the user who used theirs up. Calls without that value (no user) are not counted by it.

A soft limit alerts when the spend reaches it; an optional hard limit makes the guard refuse new
calls with `llmguard.BudgetExceededError` before any I/O (a pre-call policy). The check
is O(1) on the hot path: it reads in-memory running totals that the ledger observer updates as
calls finish, seeded from the ledger when the guard starts. Unpriced calls (cost ``None``) are
never counted as $0 and never block.

Across processes and replicas: every process sharing a ledger (one SQLite file, or one
PostgreSQL database) refreshes its totals from that ledger every ``refresh_interval_s``, on the
ledger's writer thread: its view is the shared total minus its own committed rows plus its own
counted calls, so no call is counted twice and the check never waits for the database. The
overshoot bound is in ``docs/cost.md``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from llmguard._db import after_fork
from llmguard._storage._sql import Dialect, dialect_of, json_elements, json_get, json_key_param
from llmguard.exceptions import BudgetExceededError, PolicyUnavailableError

from ._ledger import NANOS, TABLE, Ledger
from ._rules import Alert
from ._series import where_sql

if TYPE_CHECKING:
    from llmguard._core import CallContext
    from llmguard._scope import ContextValues

__all__ = [
    "PER",
    "SCOPES",
    "Budget",
    "BudgetTracker",
    "UTCClock",
    "budget_groups_sql",
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
    __slots__ = (
        "budget", "committed", "committed_groups", "daily", "filters", "groups", "hard", "mine", "mine_groups",
        "over", "per", "soft", "spent", "window",
    )  # fmt: skip

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
        self.reset("")

    def reset(self, window: str) -> None:
        self.window, self.spent = window, 0
        self.groups = {}
        self.over = set()
        self.mine, self.committed = 0, 0
        """This process's counted spend in the window, and the part of it its writer committed."""
        self.mine_groups: dict[str, int] = {}
        self.committed_groups: dict[str, int] = {}


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
        self._stale_after_s: float | None = None
        self._fresh_until = 0.0
        self.refreshes = 0
        """Successful refreshes from the shared ledger."""
        self.last_error: str | None = None
        """Why the last refresh failed (``None`` after a success)."""
        self.max_refresh_gap_s = 0.0
        """The longest time between two successful refreshes (part of the view's staleness)."""
        self.max_commit_lag_s = 0.0
        """The longest time from a call's start to its row's commit (the rest of the staleness)."""
        self._last_refresh = 0.0
        self._refresher: Callable[[], None] | None = None
        self._refreshing = threading.Lock()
        after_fork(self)

    def _after_fork(self) -> None:  # pragma: no cover - runs in forked children (tested there)
        """In a forked child: fresh locks, no counts of the parent's own calls, and a view to refresh.

        The child's first hard-budgeted call refreshes the view itself (its ledger writer thread
        only starts with its first call), instead of finding it stale.
        """
        self._lock = threading.Lock()
        self._refreshing = threading.Lock()
        for state in self._states:
            state.mine = state.committed = 0
            state.mine_groups, state.committed_groups = {}, {}
        self._fresh_until = 0.0

    def set_refresher(self, refresh: Callable[[], None]) -> None:
        """How to refresh the view now (`refresh` on the shared ledger), when a check finds it stale."""
        self._refresher = refresh

    def expect_refresh(self, stale_after_s: float) -> None:
        """Refuse hard-budgeted calls once the shared totals are ``stale_after_s`` old (fail closed)."""
        self._stale_after_s = stale_after_s
        self._fresh_until = time.monotonic() + stale_after_s

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
                    state.mine += nanos
                    fired += [
                        (state, lim, window, None, state.spent)
                        for lim in _crossed(state, before, state.spent)
                    ]
                    continue
                for group in _groups(state.per, values):
                    before = state.groups.get(group, 0)
                    after = state.groups[group] = before + nanos
                    state.mine_groups[group] = state.mine_groups.get(group, 0) + nanos
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
        """Raise `llmguard.BudgetExceededError` when a matching hard budget is used up.

        Raises `llmguard.PolicyUnavailableError` (fail closed) when the shared totals are stale.
        """
        day, month = self._clock.keys(time.time_ns())
        if self._stale_after_s is not None and self._hard and time.monotonic() > self._fresh_until:
            self._refresh_stale()
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

    def _refresh_stale(self) -> None:
        """A stale view (a new or forked process, a stuck writer): refresh it here once, else refuse.

        Rare, and on the caller's thread: the opted-in policy needs a fresh view more than the call
        needs to skip one query. A refresh racing the writer's commit can only count a row twice,
        which refuses early, never late.
        """
        with self._refreshing:
            if time.monotonic() <= self._fresh_until:
                return  # another thread refreshed it meanwhile
            if self._refresher is not None:
                try:
                    self._refresher()
                except Exception as exc:  # the database is down: say so in the refusal
                    self.last_error = f"{type(exc).__name__}: {exc}"
            if time.monotonic() > self._fresh_until:
                self._refuse_stale()

    def _refuse_stale(self) -> None:
        raise PolicyUnavailableError(
            f"hard budgets cannot be enforced: their spend totals have not been refreshed from the ledger "
            f"for over {self._stale_after_s:g} s ({self.last_error or 'no refresh yet'}); the call was refused "
            "before any network I/O. Check the database (llmguard db current), or raise budgets stale_after_s",
            policy="budgets",
        )

    def committed(self, items: Sequence[tuple[Mapping[str, Any], int, int | None]]) -> None:
        """Count rows this process's writer just committed: ``(scope values, start ns, nano-USD)``.

        Called on the writer thread after each successful batch, the same thread that runs `refresh`,
        so a refresh sees exactly the rows counted here.
        """
        now_ns = time.time_ns()
        with self._lock:
            for values, ts_ns, nanos in items:
                self.max_commit_lag_s = max(self.max_commit_lag_s, (now_ns - ts_ns) / 1e9)
                if not nanos:
                    continue
                day, month = self._clock.keys(ts_ns)
                for state in self._states:
                    if state.window != (day if state.daily else month):
                        continue
                    if state.filters and not _matches(state.filters, values):
                        continue
                    if state.per is None:
                        state.committed += nanos
                    else:
                        for group in _groups(state.per, values):
                            state.committed_groups[group] = state.committed_groups.get(group, 0) + nanos

    def seed(self, ledger: Ledger, now_ns: int | None = None) -> None:
        """Start each budget's current window from what the ledger already holds (no alerts: see `refresh`)."""
        self.refresh(ledger, now_ns, alert=False)

    def refresh(self, ledger: Ledger, now_ns: int | None = None, *, alert: bool = True) -> None:
        """Re-read each budget's window total from the shared ledger (every process's committed rows).

        The view becomes: the shared total, minus this process's committed rows (already in it),
        plus this process's counted calls (committed or still queued). Run it on the writer thread.
        """
        day, month = self._clock.keys(time.time_ns() if now_ns is None else now_ns)
        dialect = dialect_of(ledger)
        totals: list[tuple[_State, str, Any]] = []
        for state in self._states:  # the queries run without the lock: the hot path never waits
            window = day if state.budget.period == "day" else month
            if state.per is None:
                sql, params = budget_sum_sql(state.budget, window, dialect)
                totals.append((state, window, int(ledger.query(sql, params)[0][0] or 0)))
            else:
                sql, params = budget_groups_sql(state.budget, window, dialect)
                totals.append((state, window, {str(g): int(n or 0) for g, n in ledger.query(sql, params)}))
        fired: list[tuple[_State, int, str, str | None, int]] = []
        with self._lock:
            for state, window, shared in totals:
                if state.window != window:
                    if window < state.window:
                        continue
                    state.reset(window)
                if state.per is None:
                    before, state.spent = state.spent, shared - state.committed + state.mine
                    fired += [
                        (state, lim, window, None, state.spent)
                        for lim in _crossed(state, before, state.spent)
                    ]
                    continue
                groups = set(shared) | set(state.mine_groups)
                for group in groups:
                    before = state.groups.get(group, 0)
                    after = shared.get(group, 0) - state.committed_groups.get(group, 0)
                    after += state.mine_groups.get(group, 0)
                    state.groups[group] = after
                    if state.hard is not None and after >= state.hard:
                        state.over.add(group)
                    fired += [(state, lim, window, group, after) for lim in _crossed(state, before, after)]
            self.refreshes += 1
            self.last_error = None
            clock = time.monotonic()
            if self._last_refresh:
                self.max_refresh_gap_s = max(self.max_refresh_gap_s, clock - self._last_refresh)
            self._last_refresh = clock
            if self._stale_after_s is not None:
                self._fresh_until = time.monotonic() + self._stale_after_s
        for state, limit, window, key, spent in fired if alert else ():
            self._alert(state, limit, window, key, spent)


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


def _window_where(budget: Budget, window: str, dialect: Dialect) -> tuple[str, list[Any]]:
    if budget.period == "day":
        column, value = "day", window
    else:  # a month: a range over the indexed day column
        column, value = "day >= ? AND day", f"{window}-32"
        cond, params = where_sql(budget.where, dialect=dialect)
        return f"{column} < ?{cond}", [f"{window}-01", value, *params]
    cond, params = where_sql(budget.where, dialect=dialect)
    return f"{column} = ?{cond}", [value, *params]


def budget_sum_sql(budget: Budget, window: str, dialect: Dialect = "sqlite") -> tuple[str, list[Any]]:
    """SQL (and parameters) summing a budget's spend in nano-USD over ``window`` (a day or a month)."""
    cond, params = _window_where(budget, window, dialect)
    return f"SELECT SUM(cost_nanos) FROM {TABLE} WHERE {cond}", params


def budget_groups_sql(budget: Budget, window: str, dialect: Dialect = "sqlite") -> tuple[str, list[Any]]:
    """SQL (and parameters) of a ``per`` budget's spend by group: rows of (group, nano-USD)."""
    cond, params = _window_where(budget, window, dialect)
    per = budget.per or ""
    if per == "tag":
        return (
            f"SELECT g.value, SUM(cost_nanos) FROM {TABLE} CROSS JOIN {json_elements(dialect, TABLE + '.tags', 'g')} "
            f"WHERE {cond} GROUP BY g.value",
            params,
        )
    if per in ("user", "session"):
        column = f"{per}_id"
        return (
            f"SELECT {column}, SUM(cost_nanos) FROM {TABLE} WHERE {cond} AND {column} IS NOT NULL GROUP BY {column}",
            params,
        )
    key = json_key_param(dialect, per[len("metadata.") :])
    value = json_get(dialect, "metadata")
    return (
        f"SELECT {value} AS g, SUM(cost_nanos) FROM {TABLE} WHERE {cond} AND {value} IS NOT NULL GROUP BY 1",
        [key, *params, key],
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
