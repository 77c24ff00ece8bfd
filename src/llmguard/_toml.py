"""Reading TOML config files (``llmguard.toml``, ``pyproject.toml``, ``llmguard.lock``) with typed errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._internal import read_utf8
from .exceptions import ConfigurationError

__all__ = ["MAX_CONFIG_BYTES", "load_toml"]

MAX_CONFIG_BYTES = 10_000_000
"""Largest config or lock file read."""


def load_toml(path: Path, what: str = "config file") -> dict[str, Any]:
    """Parse ``path``; unreadable, oversized, non-UTF-8, invalid or too deeply nested TOML raises.

    Raises:
        ConfigurationError: Naming the file and the problem.
    """
    import tomllib  # imported when a file is read: a process without one never loads the parser

    text = read_utf8(path, MAX_CONFIG_BYTES, ConfigurationError, what)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path}: not valid TOML: {exc}") from exc
    except RecursionError:
        raise ConfigurationError(f"{path}: not valid TOML: nested too deeply") from None
