"""``validate``: the CI check over a store.

Every file parses, versions match file names, variables are declared, labels point at real
versions and models are pinned under the pin policy.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from llmguard._pins import classify, guess_provider
from llmguard.exceptions import PromptError, PromptFormatError

from ._engine import referenced_names
from ._file_store import FileStore
from ._labels import split_versions
from ._model import PromptVersion
from ._store import PromptStore

__all__ = ["Finding", "validate_store"]

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem found by `validate_store`.

    Attributes:
        where: The file (or ``name@version``) concerned.
        message: What is wrong and what to do.
        severity: ``error`` fails validation; ``warning`` does not.
    """

    where: str
    message: str
    severity: Severity = "error"


def _variables(version: PromptVersion, where: str) -> Iterator[Finding]:
    used: set[str] = set()
    for field, text in version.templates().items():
        names = referenced_names(text)
        used |= names
        for missing in sorted(names - set(version.variables)):
            yield Finding(where, f"field {field}: variable {missing!r} is not declared under 'variables:'")
    for unused in sorted(set(version.variables) - used):
        yield Finding(where, f"field variables.{unused}: declared but never used", "warning")


def _model(
    version: PromptVersion, where: str, policy: str, strict: bool, pins: Mapping[str, str]
) -> Iterator[Finding]:
    model = version.model
    if model is None or policy == "off" or model in pins:
        return
    verdict = classify(model, guess_provider(model))
    if verdict.pinned:
        return
    hint = f"; pin a snapshot such as {verdict.suggestion!r}" if verdict.suggestion else ""
    message = f"field model: {model!r} is not pinned ({verdict.reason}){hint}"
    yield Finding(where, message, "error" if policy == "enforce" or strict else "warning")


def _check_version(
    version: PromptVersion, policy: str, strict: bool, pins: Mapping[str, str]
) -> Iterator[Finding]:
    where = version.source or f"{version.name}@{version.version}"
    yield from _variables(version, where)
    yield from _model(version, where, policy, strict, pins)


def _check_name(
    store: PromptStore, name: str, policy: str, strict: bool, pins: Mapping[str, str]
) -> Iterator[Finding]:
    if isinstance(store, FileStore):
        try:
            files = store.version_files(name)
        except PromptError as exc:
            yield Finding(f"{store.root / name}", str(exc))
            return
        versions: dict[str, PromptVersion] = {}
        for number, path in files.items():
            try:
                versions[number] = store.read_version(path, name, number)
            except PromptFormatError as exc:
                yield from (Finding(str(path), problem) for problem in exc.problems or (str(exc),))
            except PromptError as exc:
                yield Finding(str(path), str(exc))
        try:
            labels = store.read_labels(name)
            store.history(name)
        except PromptError as exc:
            yield Finding(str(store.folder(name)), str(exc))
            labels = {}
    else:
        try:
            entry = store.load(name)
        except PromptError as exc:
            yield Finding(name, str(exc))
            return
        versions = dict(entry.versions)
        labels = dict(entry.labels)
    for version in versions.values():
        yield from _check_version(version, policy, strict, pins)
    for label, target in labels.items():
        for missing in (v for v in split_versions(target) if v not in versions):
            yield Finding(f"{name} labels", f"field {label}: points at unknown version {missing!r}")


def validate_store(
    store: PromptStore, *, policy: str = "warn", strict: bool = False, pins: Mapping[str, str] | None = None
) -> list[Finding]:
    """Check every version and label of a store.

    Args:
        store: The store to check.
        policy: The pin policy: ``enforce`` makes an alias model an error, ``warn`` a warning, ``off`` skips.
        strict: Treat warnings about alias models as errors.
        pins: Lock entries (alias -> snapshot): a locked alias counts as pinned.

    Returns:
        Every finding; validation passes when none has severity ``error``.
    """
    findings: list[Finding] = []
    for name in store.names():
        findings.extend(_check_name(store, name, policy, strict, pins or {}))
    return findings
