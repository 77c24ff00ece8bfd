"""The ``PromptStore`` Protocol, the resolved snapshot every store returns, and the in-memory store.

A store holds one artifact kind (prompts or configs). It has four small duties: list names,
load one name's versions and labels, move a label with compare-and-set, and return a label
history. Everything else (ranges, canaries, caching, rollback) lives in the registry, so a new
store (Postgres...) is a small addition.
"""

from __future__ import annotations

import bisect
import itertools
import random
import threading
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, runtime_checkable

from llmguard.exceptions import PromptFormatError, PromptNotFoundError

from ._labels import LabelMove, LabelTarget, check_expect, check_label, format_target, split_versions
from ._loader import check_parts
from ._model import ArtifactKind, PromptVersion, check_name
from ._semver import is_exact, parse_version, resolve

__all__ = [
    "MemoryStore",
    "PromptEntry",
    "PromptStore",
    "WritablePromptStore",
    "check_move",
    "check_new_version",
]


@dataclass(frozen=True)
class PromptEntry:
    """Everything known about one name at one moment: its versions and its labels.

    Resolution results are memoized on the (immutable) entry, so a cached lookup is a dict hit.
    """

    name: str
    versions: Mapping[str, PromptVersion]
    labels: Mapping[str, LabelTarget] = field(default_factory=dict)
    _memo: dict[tuple[Any, ...], Any] = field(default_factory=dict, repr=False, compare=False)

    def target(self, version: str | None, label: str | None) -> tuple[LabelTarget, str | None]:
        """Resolve a request to a target (a version or a canary split) and the label used."""
        if label is not None:
            if label not in self.labels:
                known = ", ".join(sorted(self.labels)) or "none"
                raise PromptNotFoundError(f"{self.name}: unknown label {label!r} (labels: {known})")
            return self.labels[label], label
        spec = version or "latest"
        spec = spec[1:] if spec[:1] in "vV" and is_exact(spec[1:]) else spec
        found = resolve(spec, self.versions)
        if found is None:
            known = ", ".join(sorted(self.versions)) or "none"
            raise PromptNotFoundError(f"{self.name}: no version matches {spec!r} (versions: {known})")
        return found, None

    def resolve(self, version: str | None, label: str | None) -> PromptVersion | Split:
        """The version (or compiled canary split) a request resolves to, memoized."""
        hit = self._memo.get((version, label))
        if hit is None:
            hit = self._compile(version, label)
            self._memo[(version, label)] = hit
        return hit

    def get(self, version: str | None, label: str | None, key: str | None = None) -> PromptVersion:
        """The version a request resolves to (a canary split is decided by ``key``)."""
        hit = self.resolve(version, label)
        return hit if isinstance(hit, PromptVersion) else hit.pick(key)

    def _version(self, number: str, label: str | None) -> PromptVersion:
        found = self.versions.get(number)
        if found is None:
            raise PromptNotFoundError(f"{self.name}: label {label!r} points at missing version {number!r}")
        return found.with_label(label)

    def _compile(self, version: str | None, label: str | None) -> PromptVersion | Split:
        target, used = self.target(version, label)
        if isinstance(target, str):
            return self._version(target, used)
        return Split(self.name, used or "", {v: self._version(v, used) for v in target}, target)


class Split:
    """A compiled canary split: cumulative weights over resolved versions, picked by a stable hash."""

    __slots__ = ("_bounds", "_choices", "_seed", "_total")

    def __init__(
        self, name: str, label: str, versions: Mapping[str, PromptVersion], weights: Mapping[str, int]
    ) -> None:
        ordered = sorted((v for v in weights if weights[v] > 0), key=parse_version)
        self._choices = [versions[v] for v in ordered]
        self._bounds = list(itertools.accumulate(weights[v] for v in ordered))
        self._total = self._bounds[-1] if self._bounds else 0
        self._seed = zlib.crc32(f"{name}\x00{label}\x00".encode())
        if self._total <= 0:
            raise PromptNotFoundError(f"{name}: label {label!r} has no version with a positive weight")

    def pick(self, key: str | None) -> PromptVersion:
        """The version for ``key`` (the same key always gets the same version; random without one)."""
        if key is None:
            point = random.randrange(self._total)
        else:
            point = zlib.crc32(key.encode(), self._seed) % self._total
        return self._choices[bisect.bisect_right(self._bounds, point)]


@runtime_checkable
class PromptStore(Protocol):
    """Where versions and labels live: a folder in git, memory, SQLite, Postgres...

    Implementations must make `move_label` atomic across processes: check ``expect`` with
    `check_move` and write the label and its history entry under one lock or transaction.
    """

    kind: ArtifactKind

    def names(self) -> list[str]:
        """Every name in the store, sorted."""
        ...

    def load(self, name: str) -> PromptEntry:
        """One name's versions and labels; raises `llmguard.PromptNotFoundError` when absent."""
        ...

    def move_label(self, move: LabelMove, target: LabelTarget, expect: object) -> LabelMove:
        """Point ``move.label`` of ``move.name`` at ``target`` if it still points at ``expect``.

        Returns the move as recorded (``from_`` as read under the lock).
        """
        ...

    def history(self, name: str) -> list[LabelMove]:
        """Every recorded label move of ``name``, oldest first."""
        ...


@runtime_checkable
class WritablePromptStore(PromptStore, Protocol):
    """A store that accepts new versions at runtime (memory, SQLite)."""

    def save(self, version: PromptVersion) -> None:
        """Add a version; saving an existing version with different content is an error."""
        ...


def check_move(
    versions: Mapping[str, PromptVersion],
    current: LabelTarget | None,
    move: LabelMove,
    target: LabelTarget,
    expect: object,
) -> LabelMove:
    """Shared compare-and-set and existence checks for `PromptStore.move_label`.

    Returns:
        ``move`` with ``from_`` set to the target read under the store's lock.
    """
    check_label(move.label, move.name)
    check_expect(current, expect, move.name, move.label)
    for version in split_versions(target):
        if version not in versions:
            known = ", ".join(sorted(versions)) or "none"
            raise PromptNotFoundError(f"{move.name}: unknown version {version!r} (versions: {known})")
    return replace(move, from_=format_target(current))


def check_new_version(existing: PromptVersion | None, version: PromptVersion, where: str) -> bool:
    """True when ``version`` must be stored; False when an identical one already is.

    Raises:
        PromptFormatError: Same version number, different content (versions are immutable).
    """
    if existing is None:
        return True
    if existing.content_hash != version.content_hash:
        raise PromptFormatError(
            f"{where}: duplicate version {version.version} of {version.name} with different content; "
            "versions are immutable: add a new version instead"
        )
    return False


class MemoryStore:
    """A thread-safe in-process store, for tests and apps that build prompts in code."""

    def __init__(self, versions: Sequence[PromptVersion] = (), *, kind: ArtifactKind = "prompt") -> None:
        self.kind: ArtifactKind = kind
        self._lock = threading.Lock()
        self._versions: dict[str, dict[str, PromptVersion]] = {}
        self._labels: dict[str, dict[str, LabelTarget]] = {}
        self._history: dict[str, list[LabelMove]] = {}
        for version in versions:
            self.save(version)

    def names(self) -> list[str]:
        """Every name in the store, sorted."""
        with self._lock:
            return sorted(self._versions)

    def load(self, name: str) -> PromptEntry:
        """One name's versions and labels."""
        check_name(name)
        with self._lock:
            if name not in self._versions:
                raise PromptNotFoundError(f"no {self.kind} named {name!r} in memory store")
            return PromptEntry(name, dict(self._versions[name]), dict(self._labels.get(name, {})))

    def save(self, version: PromptVersion) -> None:
        """Add a version (idempotent for identical content)."""
        if version.kind != self.kind:
            raise PromptFormatError(
                f"{version.name}@{version.version}: a {version.kind} in a {self.kind} store"
            )
        check_parts(version, version.source or f"{version.name}@{version.version}")
        with self._lock:
            existing = self._versions.get(version.name, {}).get(version.version)
            if check_new_version(existing, version, "memory store"):
                self._versions.setdefault(version.name, {})[version.version] = version

    def move_label(self, move: LabelMove, target: LabelTarget, expect: object) -> LabelMove:
        """Compare-and-set a label and record the move."""
        with self._lock:
            versions = self._versions.get(move.name, {})
            labels = self._labels.setdefault(move.name, {})
            move = check_move(versions, labels.get(move.label), move, target, expect)
            labels[move.label] = target
            self._history.setdefault(move.name, []).append(move)
        return move

    def history(self, name: str) -> list[LabelMove]:
        """Every recorded label move of ``name``, oldest first."""
        with self._lock:
            return list(self._history.get(name, []))
