"""Reading TOML config files (``llmguard.toml``, ``pyproject.toml``, ``llmguard.lock``) with typed errors."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from .exceptions import ConfigurationError

__all__ = ["MAX_CONFIG_BYTES", "load_toml"]

MAX_CONFIG_BYTES = 10_000_000
"""Largest config or lock file read."""


def load_toml(path: Path, what: str = "config file") -> dict[str, Any]:
    """Parse ``path``; unreadable, oversized, non-UTF-8, invalid or too deeply nested TOML raises.

    Raises:
        ConfigurationError: Naming the file and the problem.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read the {what}: {exc.strerror or exc}") from exc
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigurationError(f"{path}: the {what} is {len(data)} bytes; the limit is {MAX_CONFIG_BYTES}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigurationError(f"{path}: the {what} is not valid UTF-8 (byte {exc.start})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path}: not valid TOML: {exc}") from exc
    except RecursionError:
        raise ConfigurationError(f"{path}: not valid TOML: nested too deeply") from None
