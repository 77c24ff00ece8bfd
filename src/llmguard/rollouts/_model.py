"""Model rollouts: a candidate that differs from the stable version only by its pinned model.

``llmguard rollout start --model NEW`` needs a candidate version whose calls can be told apart
from stable's in the ledger, judgments and feedback (they key on prompt version). The candidate
is an existing version identical to stable but for the model, or a new patch version (the next
one above the newest) added to the store: a new ``v<version>.yaml`` file in a file store (an
artifact to commit, as any version), or a saved version in a writable store.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from llmguard.exceptions import RolloutPlanError

if TYPE_CHECKING:
    from llmguard.prompts import PromptRegistry, PromptVersion

__all__ = ["derive_model_version"]


def derive_model_version(registry: PromptRegistry, name: str, stable: str, model: str) -> PromptVersion:
    """The candidate of a model rollout: ``stable`` with ``model``, found or added to the store.

    Raises:
        RolloutPlanError: The stable version already uses ``model``, or ``model`` is not a model name.
    """
    from llmguard.prompts._file_store import FileStore
    from llmguard.prompts._semver import parse_version
    from llmguard.prompts._store import WritablePromptStore

    if not model or len(model) > 200 or not model.isprintable() or any(c.isspace() for c in model):
        raise RolloutPlanError(f"--model: invalid model name {model!r}")
    entry = registry.entry(name)
    base = entry.versions[stable]
    if base.model == model:
        raise RolloutPlanError(f"{name}: the stable version {stable} already uses {model!r}")
    wanted = _with(base, model=model).content_hash
    for version in entry.versions.values():
        if version.model == model and version.content_hash == wanted:
            return version
    newest = max((parse_version(v) for v in entry.versions), key=lambda v: v.key)
    number = str(newest.bump("patch"))
    note = f"model rollout of {stable} to {model}"
    candidate = _with(base, version=number, model=model, description=note)
    if isinstance(registry.store, FileStore):
        _write_file(registry.store, name, stable, number, model, note)
    elif isinstance(registry.store, WritablePromptStore):
        registry.store.save(candidate)
    else:
        raise RolloutPlanError(
            f"{name}: {registry.store!r} cannot add versions; add {name}@{number} with {model!r} by hand"
        )
    registry.invalidate(name)
    return registry.entry(name).versions[number]


def _with(base: PromptVersion, **changes: Any) -> PromptVersion:
    """A fresh copy with ``changes`` (validated, so derived values such as the content hash are recomputed)."""
    return type(base).model_validate({**base.model_dump(by_alias=True), **changes})


def _write_file(store: Any, name: str, stable: str, number: str, model: str, note: str) -> None:
    """Copy stable's file with the new version and model (a new reviewed artifact, never an overwrite)."""
    from llmguard.prompts._loader import load_text, read_text

    source = store.version_files(name)[stable]
    data = dict(load_text(read_text(source), str(source)))
    data.update({"version": number, "model": model, "description": note})
    target = Path(store.folder(name)) / f"v{number}{source.suffix}"
    header = f"# {note} (written by `llmguard rollout start --model`)\n"
    with open(target, "x", encoding="utf-8") as handle:
        handle.write(header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
