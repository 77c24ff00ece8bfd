"""The registry: resolution, caching, promotion, rollback and call linking over any store."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmguard._context import use_prompt
from llmguard._internal import logger
from llmguard._options import PromptOptions
from llmguard._record import PromptRef
from llmguard.exceptions import ConfigurationError, LLMGuardError, PromotionRefusedError

from ._cache import TTLCache
from ._file_store import FileStore
from ._labels import (
    ANY,
    DEFAULT_PROTECTED,
    LabelMove,
    LabelTarget,
    check_label,
    current_user,
    format_target,
    label_stack,
    now,
    parse_target,
    rollback_target,
)
from ._model import ArtifactKind, PromptVersion, check_name
from ._sqlite_store import SQLiteStore
from ._store import PromptEntry, PromptStore, Split

if TYPE_CHECKING:
    from llmguard._guard import Guard

__all__ = ["FAKE_PROVIDERS", "PromotionGate", "PromotionRequest", "PromptRegistry"]

DEFAULT_DIRS: dict[str, str] = {"prompt": "prompts", "config": "configs"}


@dataclass(frozen=True, slots=True)
class PromotionRequest:
    """What a promotion gate is asked to approve.

    Attributes:
        name: The prompt.
        label: The label to move.
        target: The version (or canary split) it would point at.
        versions: The versions the target serves.
        who: Who asks.
        reason: Why.
        evidence: Evidence the caller supplied (eval scores, run ids...).
    """

    name: str
    label: str
    target: LabelTarget
    versions: tuple[PromptVersion, ...]
    who: str
    reason: str
    evidence: Mapping[str, Any] = field(default_factory=dict)


PromotionGate = Callable[[PromotionRequest], Mapping[str, Any] | None]
"""Approves a promotion to a protected label: raise to refuse, return evidence to record.

An `llmguard.LLMGuardError` it raises passes through; any other exception refuses the promotion
(`llmguard.PromotionRefusedError`, fail closed)."""

FAKE_PROVIDERS = ("fake", "fake-anthropic")
"""Eval providers whose records never count as evidence for a protected label (demos and tests)."""


class PromptRegistry:
    """Versioned prompts (or config artifacts) over a `PromptStore`.

    Args:
        store: Where versions and labels live.
        ttl: Seconds a loaded name is served from memory (file stores: 1 s, then changed files are re-read).
        max_stale: Seconds past the TTL a cached copy is served when the store fails.
        default_label: Served by ``get(name)`` when it exists; otherwise ``latest``.
        protected_labels: Labels whose promotions need evidence or a passing ``gate`` (none unless
            given; registries built by `llmguard.Guard` and the CLI protect ``production`` by
            default, see `for_guard`).
        gate: Called for promotions to protected labels (e.g. the eval gate).
    """

    def __init__(
        self,
        store: PromptStore,
        *,
        ttl: float | None = None,
        max_stale: float = 3600.0,
        default_label: str | None = "production",
        protected_labels: Sequence[str] = (),
        gate: PromotionGate | None = None,
    ) -> None:
        self.store = store
        self.kind: ArtifactKind = store.kind
        default_ttl = 1.0 if isinstance(store, FileStore) else 60.0
        self._cache: TTLCache[PromptEntry] = TTLCache(default_ttl if ttl is None else ttl, max_stale)
        self.default_label = default_label
        self.protected_labels = frozenset(
            check_label(label, "protected_labels") for label in protected_labels
        )
        self.gate = gate
        self._clock = time.monotonic
        self._fast: dict[tuple[str, str | None, str | None], tuple[float, PromptVersion | Split]] = {}

    def __repr__(self) -> str:
        return f"PromptRegistry({self.store!r})"

    @classmethod
    def for_guard(cls, guard: Guard, store: Any, *, kind: ArtifactKind = "prompt") -> PromptRegistry:
        """The registry a `llmguard.Guard` uses for ``Guard(prompts=...)`` / ``Guard(configs=...)``.

        ``None`` means a file store over ``./prompts`` (or ``./configs``; ``[tool.llmguard]
        prompts_dir`` / ``configs_dir`` relative to the config file), a path means a file store
        there, ``sqlite:///path.db`` a SQLite store, or pass any `PromptStore` or registry.

        Its protected labels are ``[tool.llmguard] protected_labels``, by default
        `DEFAULT_PROTECTED` (``production``); ``protected_labels = []`` protects none.
        """
        options = PromptOptions.resolve(guard)
        protected = DEFAULT_PROTECTED if options.protected_labels is None else options.protected_labels
        if isinstance(store, PromptRegistry):
            registry = store
        else:
            registry = cls(_store_for(options, store, kind), protected_labels=_labels_list(protected))
        if registry.kind != kind:
            raise ConfigurationError(f"Guard({kind}s=...): got a store of {registry.kind} artifacts")
        return registry

    # -- reading ------------------------------------------------------------------------------
    def entry(self, name: str) -> PromptEntry:
        """The (cached) versions and labels of ``name``."""
        return self._cache.get(name, lambda: self.store.load(check_name(name)))

    def get(
        self, name: str, version: str | None = None, *, label: str | None = None, key: str | None = None
    ) -> PromptVersion:
        """Resolve a version.

        Args:
            name: The prompt (or config) name.
            version: An exact version, a range (``^2.1``, ``~2.1.0``, ``>=2,<3``, ``2.x``) or ``latest``.
            label: A label (``production``, ``staging``, any name); not with ``version``.
            key: Stable key (e.g. a user id) that picks a canary split's version deterministically.

        Raises:
            PromptNotFoundError: No such name, version or label.
            PromptFormatError: A file or record is malformed (and no cached copy can be served).
        """
        hit = self._fast.get((name, version, label))
        if hit is None and label is not None:
            check_label(label, name)
        found = hit[1] if hit is not None and self._clock() < hit[0] else self._resolve(name, version, label)
        return found if isinstance(found, PromptVersion) else found.pick(key)

    def _resolve(self, name: str, version: str | None, label: str | None) -> PromptVersion | Split:
        if version is not None and label is not None:
            raise ConfigurationError("get(): pass version= or label=, not both")
        entry = self.entry(name)
        used = (
            self.default_label
            if version is None and label is None and self.default_label in entry.labels
            else label
        )
        found = entry.resolve(version, used)
        if self._cache.ttl > 0:
            self._fast[(name, version, label)] = (self._cache.expires(name), found)
        return found

    async def aget(
        self, name: str, version: str | None = None, *, label: str | None = None, key: str | None = None
    ) -> PromptVersion:
        """Async `get`: a cache hit returns at once; a load runs in a worker thread."""
        if self._cache.fresh(name) is not None:
            return self.get(name, version, label=label, key=key)
        import anyio.to_thread

        return await anyio.to_thread.run_sync(lambda: self.get(name, version, label=label, key=key))

    def names(self) -> list[str]:
        """Every name in the store."""
        return self.store.names()

    def versions(self, name: str) -> list[PromptVersion]:
        """Every version of ``name``, oldest first."""
        return sorted(self.entry(name).versions.values(), key=lambda v: v.semver)

    def labels(self, name: str) -> dict[str, LabelTarget]:
        """The current labels of ``name``."""
        return dict(self.entry(name).labels)

    def history(self, name: str, label: str | None = None) -> list[LabelMove]:
        """Recorded label moves of ``name`` (of one label when given), oldest first."""
        if label is not None:
            check_label(label, name)
        moves = self.store.history(check_name(name))
        return [m for m in moves if label is None or m.label == label]

    def invalidate(self, name: str | None = None) -> None:
        """Forget the cached copy of ``name`` (exact key), or of everything."""
        self._cache.invalidate(name)
        for key in [k for k in self._fast if name is None or k[0] == name]:
            self._fast.pop(key, None)

    @contextmanager
    def use(self, prompt: PromptVersion | PromptRef) -> Iterator[PromptRef]:
        """Link LLM calls made inside the block to ``prompt`` (for hand-built messages)."""
        ref = prompt.ref if isinstance(prompt, PromptVersion) else prompt
        with use_prompt(ref) as linked:
            yield linked

    # -- moving labels ------------------------------------------------------------------------
    def promote(
        self,
        name: str,
        target: LabelTarget,
        *,
        label: str,
        expect: object = ANY,
        reason: str = "",
        who: str | None = None,
        evidence: Mapping[str, Any] | None = None,
        force: bool = False,
    ) -> LabelMove:
        """Point ``label`` at a version or a canary split, if it still points at ``expect``.

        Args:
            name: The prompt.
            target: ``"2.1.0"`` or ``{"2.0.0": 90, "2.1.0": 10}``.
            label: The label to move.
            expect: The target the label must point at now (``None``: unset); ``ANY`` skips the check.
            reason: Why (recorded).
            who: Who (default: the OS user).
            evidence: Eval evidence to record; protected labels need it or a passing gate.
                Evidence from a fake eval provider (``"provider": "fake"``) never counts.
            force: Skip the evidence check of a protected label; needs ``reason``. The move is
                recorded as forced (who, why) in the history and logged.

        Raises:
            LabelConflictError: The label moved since the caller read it.
            PromptNotFoundError: A version of the target does not exist.
            PromotionRefusedError: A protected label without evidence or gate approval.
            PromptFormatError: An invalid label or target.
            ConfigurationError: ``force`` without a reason.
        """
        check_label(label, name)
        parsed = parse_target(target, f"{name} {label}")
        actor = who or current_user()
        recorded = dict(evidence or {})
        if force:
            recorded.update(_forced(name, label, actor, reason))
        elif label in self.protected_labels:
            recorded.update(self._approve(name, label, parsed, actor, reason, recorded))
        current = self._current(name, label)
        move = LabelMove(
            name, label, current, format_target(parsed) or "", actor, now(), reason, "promote", recorded
        )
        recorded_move = self.store.move_label(move, parsed, expect)
        self.invalidate(name)
        return recorded_move

    def rollback(
        self,
        name: str,
        *,
        label: str,
        to: str | None = None,
        expect: object = ANY,
        reason: str = "",
        who: str | None = None,
    ) -> LabelMove:
        """Move ``label`` back one step in its history (or back to the version ``to``).

        Raises:
            PromptNotFoundError: Nothing earlier to roll back to, or ``to`` was never promoted.
            LabelConflictError: The label moved since the history was read.
        """
        check_label(label, name)
        current = self._current(name, label)
        stack = label_stack(self.store.history(check_name(name)), label, current)
        destination = rollback_target(stack, to, name, label)
        move = LabelMove(name, label, current, destination, who or current_user(), now(), reason, "rollback")
        guard_expect = current if expect is ANY else expect
        recorded_move = self.store.move_label(
            move, parse_target(destination, f"{name} {label}"), guard_expect
        )
        self.invalidate(name)
        return recorded_move

    def _current(self, name: str, label: str) -> str | None:
        self.invalidate(name)
        return format_target(self.entry(name).labels.get(label))

    def _approve(
        self, name: str, label: str, target: LabelTarget, who: str, reason: str, evidence: Mapping[str, Any]
    ) -> Mapping[str, Any]:
        if self.gate is None:
            if not evidence:
                raise PromotionRefusedError(
                    f"{name}: label {label!r} is protected: promote with eval evidence (a gate such as "
                    "EvalGate, CLI --suite; or evidence=, CLI --evidence), or force it with a reason "
                    "(force=True, CLI --force --reason; recorded)"
                )
            _refuse_fake(name, label, evidence)
            return {}
        entry = self.entry(name)
        served = tuple(
            entry.versions[v]
            for v in ([target] if isinstance(target, str) else target)
            if v in entry.versions
        )
        request = PromotionRequest(name, label, target, served, who, reason, evidence)
        try:
            approved = self.gate(request) or {}
        except LLMGuardError:
            raise
        except Exception as exc:
            raise PromotionRefusedError(
                f"{name}: the promotion gate of protected label {label!r} failed ({type(exc).__name__}: "
                f"{exc}); the promotion was refused (fail closed)"
            ) from exc
        _refuse_fake(name, label, approved)
        return approved


def _refuse_fake(name: str, label: str, evidence: Mapping[str, Any]) -> None:
    """Evidence made with a fake eval provider never counts for a protected label."""
    if evidence.get("forced"):
        return
    if str(evidence.get("provider", "")).lower() in FAKE_PROVIDERS:
        raise PromotionRefusedError(
            f"{name}: label {label!r} is protected and the evidence comes from the fake eval provider "
            f"({evidence.get('provider')!r}, for demos and tests): run the suite with a real provider"
        )


def _forced(name: str, label: str, who: str, reason: str) -> dict[str, Any]:
    if not reason.strip():
        raise ConfigurationError(
            f"{name}: forcing the promotion of {label!r} needs a reason (it is recorded in the label history)"
        )
    logger.warning("llmguard: forced promotion of %s label %r by %s: %s", name, label, who, reason)
    return {"forced": True, "forced_by": who, "forced_reason": reason}


def _labels_list(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (check_label(value, "[tool.llmguard] protected_labels"),)
    if isinstance(value, list | tuple):
        return tuple(check_label(v, "[tool.llmguard] protected_labels") for v in value)
    raise ConfigurationError(f"[tool.llmguard] protected_labels: expected a list of labels, got {value!r}")


def _store_for(options: PromptOptions, store: Any, kind: ArtifactKind) -> PromptStore:
    """The registry's store: the one place the prompts feature constructs a store."""
    if store is None:
        configured = options.prompts_dir if kind == "prompt" else options.configs_dir
        folder = DEFAULT_DIRS[kind] if configured is None else configured
        return FileStore(options.base / str(folder), kind=kind)
    if isinstance(store, str) and store.startswith(
        ("sqlite://", "postgresql://", "postgres://", "postgresql+")
    ):
        return SQLiteStore(store, kind=kind)
    if isinstance(store, str | Path):
        return FileStore(store, kind=kind)
    if isinstance(store, PromptStore):
        return store
    raise ConfigurationError(
        f"Guard({kind}s=...): expected a folder path, 'sqlite:///file.db', 'postgresql://...' or a PromptStore, got {type(store).__name__}"
    )
