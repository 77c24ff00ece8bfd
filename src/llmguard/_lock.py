"""The pin lock: alias -> snapshot rewrites, from ``llmguard.lock`` or ``[tool.llmguard.pins]``.

A lock lets code keep asking for ``gpt-4o`` while every request goes to the snapshot the team
tested, ``gpt-4o-2024-08-06``. The file is TOML::

    [pins]
    "gpt-4o" = "gpt-4o-2024-08-06"
    "claude-sonnet-4-5" = "claude-sonnet-4-5-20250929"

Every target must itself be pinned (see `llmguard._pins.classify`); a lock that points at
another alias would pin nothing, so it is rejected with a `ConfigurationError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from llmguard._pins import Provider, classify, guess_provider, model_name_problem
from llmguard._toml import load_toml
from llmguard.exceptions import ConfigurationError

__all__ = ["LOCK_FILE_NAME", "PYPROJECT_SOURCE", "load_lock", "lock_from_table"]

LOCK_FILE_NAME = "llmguard.lock"
"""The lock file's conventional name, next to ``pyproject.toml``."""

PYPROJECT_SOURCE = "pyproject.toml [tool.llmguard.pins]"
"""How errors name the pyproject table."""

_EXAMPLE = '"gpt-4o" = "gpt-4o-2024-08-06"'


def load_lock(path: Path, *, provider: Provider | None = None) -> dict[str, str]:
    """Load and validate a lock file.

    Args:
        path: The ``llmguard.lock`` file, TOML with one ``[pins]`` table.
        provider: The provider the targets are judged for; by default guessed from each
            target's name (``claude...`` -> anthropic, else openai).

    Returns:
        Alias -> pinned snapshot.

    Raises:
        ConfigurationError: The file cannot be read, is not valid TOML, has no ``[pins]``
            table, or an entry is not a string -> pinned-snapshot pair.
    """
    source = str(path)
    document = load_toml(path, "lock file")
    pins = document.get("pins")
    if not isinstance(pins, dict):
        raise ConfigurationError(f"{source}: expected a [pins] table of alias = snapshot, e.g. {_EXAMPLE}")
    return lock_from_table(pins, source, provider=provider)


def lock_from_table(
    table: Mapping[str, object], source: str = PYPROJECT_SOURCE, *, provider: Provider | None = None
) -> dict[str, str]:
    """Validate an already loaded pins table, such as ``[tool.llmguard.pins]``.

    Args:
        table: Alias -> snapshot, as parsed from TOML.
        source: Where the table came from, for error messages.
        provider: The provider the targets are judged for; guessed from each target by default.

    Returns:
        Alias -> pinned snapshot.

    Raises:
        ConfigurationError: The table is not a mapping, a key or value is not a non-empty
            string, or a target is not pinned.
    """
    loaded: object = table  # TOML and callers may hand over anything
    if not isinstance(loaded, Mapping):
        kind = type(loaded).__name__
        raise ConfigurationError(
            f"{source}: expected a table of alias = snapshot, not {kind}; e.g. {_EXAMPLE}"
        )
    lock: dict[str, str] = {}
    for alias, target in table.items():
        lock[alias] = _checked_target(alias, target, source, provider)
    return lock


def _checked_target(alias: object, target: object, source: str, provider: Provider | None) -> str:
    where = f"{source}: pin '{alias}'"
    if not isinstance(alias, str) or not alias.strip():
        raise ConfigurationError(f"{source}: a pin has an empty name; use {_EXAMPLE}")
    problem = model_name_problem(alias)
    if problem is not None:
        raise ConfigurationError(f"{source}: pin {alias!r} is not a valid model name: {problem}")
    if not isinstance(target, str):
        kind = type(target).__name__
        raise ConfigurationError(f"{where} must be a snapshot name (a string), not {kind}; use {_EXAMPLE}")
    if not target.strip():
        raise ConfigurationError(f"{where} has an empty target; name a pinned snapshot, e.g. {_EXAMPLE}")
    verdict = classify(target, provider or guess_provider(target))
    if not verdict.pinned:
        instead = f" such as '{verdict.suggestion}'" if verdict.suggestion else ""
        raise ConfigurationError(
            f"{where} targets '{target}', which is not pinned ({verdict.reason}); "
            f"lock it to a dated snapshot{instead}"
        )
    return target
