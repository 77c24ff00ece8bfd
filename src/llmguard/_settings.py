"""Settings: explicit arguments, then environment, then a config file, then defaults.

The config file is ``llmguard.toml`` (top-level keys) or ``pyproject.toml`` (``[tool.llmguard]``),
found from the working directory up to the project root (the nearest folder holding
``pyproject.toml`` or ``.git``; without one, the working directory only), or named by
``LLMGUARD_CONFIG``. An alias lock lives
in ``llmguard.lock`` beside it, or in a ``pins`` table of the config file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from . import _env
from ._toml import load_toml
from .exceptions import ConfigurationError

__all__ = [
    "FILE_KEYS",
    "PIN_MODES",
    "ROOT_MARKERS",
    "Settings",
    "find_config_file",
    "load_settings",
    "search_folders",
]

PinMode = Literal["enforce", "warn", "off"]
PIN_MODES: tuple[str, ...] = ("enforce", "warn", "off")

FILE_KEYS: frozenset[str] = frozenset(
    {
        "environment",
        "service_name",
        "pin_policy",
        "pins",
        "capture_content",
        "db_path",
        "inject_stream_usage",
        "python_warnings",
        "prompts_dir",
        "prices",
        "budgets",
        "sampling",
        "judges",
        "feedback",
        "protected_labels",
        "telemetry",
        "ledger",
        "configs_dir",
        "drift",
    }
)
"""Keys accepted in ``[tool.llmguard]`` / ``llmguard.toml``."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Settings:
    """Resolved scalar settings of a `llmguard.Guard`."""

    environment: str = "development"
    """Deployment environment; ``production`` makes the default pin policy ``enforce``."""
    service_name: str = "unknown_service"
    """Service name recorded on every call."""
    pin_policy: PinMode = "warn"
    """``enforce`` refuses floating aliases before any I/O, ``warn`` logs once per model, ``off`` does nothing."""
    pins: Mapping[str, str] = field(default_factory=dict)
    """Alias -> pinned snapshot (a lock), or Azure deployment / served name -> snapshot (a declaration)."""
    capture_content: bool = False
    """Record message content in telemetry (off by default)."""
    db_path: Path = Path(".llmguard/llmguard.db")
    """The local SQLite database (created only when a storing feature is enabled)."""
    inject_stream_usage: bool = True
    """Ask OpenAI streams for a usage chunk (hidden from your iteration) when you did not set ``stream_options``."""
    python_warnings: bool = False
    """Also emit advisories as Python warnings (opt-in: apps often run with warnings as errors)."""
    config_file: Path | None = None
    """The file that supplied settings, if any."""
    file_settings: Mapping[str, Any] = field(default_factory=dict)
    """The raw ``[tool.llmguard]`` table, for features that read their own keys (prompts, budgets...)."""


ROOT_MARKERS: tuple[str, ...] = ("pyproject.toml", ".git")
"""A folder holding one of these is a project root: config discovery never looks above it."""


def search_folders(start: Path) -> list[Path]:
    """The folders config discovery reads, nearest first: ``start`` up to its project root.

    The project root is the nearest folder (``start`` included) holding ``pyproject.toml`` or
    ``.git``. Without one, only ``start`` itself is searched: a file planted in a parent folder
    (``/tmp``, a shared home) is never read.
    """
    here = start.resolve()
    folders: list[Path] = []
    for folder in (here, *here.parents):
        folders.append(folder)
        if _is_root(folder):
            return folders
    return [here]


def _is_root(folder: Path) -> bool:
    try:
        return any((folder / marker).exists() for marker in ROOT_MARKERS)
    except OSError:
        return True  # unreadable: never look above it


def find_config_file(start: Path | None = None, env: Mapping[str, str] | None = None) -> Path | None:
    """Locate the config file: ``LLMGUARD_CONFIG``, else the nearest one up to the project root.

    Each folder of `search_folders` (``start``, default the working directory, up to its project
    root) is tried for ``llmguard.toml``, then ``pyproject.toml`` with a ``[tool.llmguard]`` table.
    """
    env = os.environ if env is None else env
    explicit = env.get(_env.LLMGUARD_CONFIG)
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigurationError(f"{_env.LLMGUARD_CONFIG}={explicit!r}: no such file")
        return path
    for folder in search_folders(start or Path.cwd()):
        candidate = folder / "llmguard.toml"
        if candidate.is_file():
            return candidate
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and b"[tool.llmguard" in pyproject.read_bytes():
            return pyproject
    return None


def _read_table(path: Path) -> dict[str, Any]:
    data = load_toml(path)
    table: object = data
    if path.name == "pyproject.toml":
        tool = data.get("tool", {})
        table = tool.get("llmguard", {}) if isinstance(tool, dict) else None
    if not isinstance(table, dict):
        raise ConfigurationError(f"{path}: [tool.llmguard] must be a table")
    unknown = sorted(set(table) - FILE_KEYS)
    if unknown:
        raise ConfigurationError(
            f"{_where(path)}: unknown key {unknown[0]!r}; valid keys: {', '.join(sorted(FILE_KEYS))}"
        )
    return cast(dict[str, Any], table)


def _where(path: Path) -> str:
    return f"{path} [tool.llmguard]" if path.name == "pyproject.toml" else str(path)


def _pin_mode(value: object, source: str) -> PinMode:
    if value not in PIN_MODES:
        raise ConfigurationError(
            f"{source}: invalid pin policy {value!r}; valid choices: {', '.join(PIN_MODES)}"
        )
    return cast(PinMode, value)


def _boolean(value: object, source: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigurationError(f"{source}: invalid boolean {value!r}; use true or false")


def _string(value: object, source: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{source}: expected a non-empty string, got {value!r}")
    return value


def _pins(table: Mapping[str, Any], config_file: Path | None, explicit: object) -> dict[str, str]:
    from ._lock import load_lock, lock_from_table

    pins: dict[str, str] = {}
    base = config_file.parent if config_file else Path.cwd()
    lock_file = base / "llmguard.lock"
    if lock_file.is_file():
        pins.update(load_lock(lock_file))
    if "pins" in table and config_file is not None:
        pins.update(lock_from_table(table["pins"], f"{_where(config_file)} pins"))
    if explicit is not None:
        if not isinstance(explicit, Mapping):
            raise ConfigurationError(
                f"argument pins: expected a mapping of model -> snapshot, got {explicit!r}"
            )
        pins.update(lock_from_table(explicit, "argument pins"))
    return pins


def load_settings(
    overrides: Mapping[str, Any],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Resolve settings with precedence argument > environment > file > default."""
    env = os.environ if env is None else env
    config_file = find_config_file(cwd, env)
    table = _read_table(config_file) if config_file else {}
    where = _where(config_file) if config_file else ""

    def pick(key: str, env_var: str | None) -> tuple[object, str] | None:
        if overrides.get(key) is not None:
            return overrides[key], f"argument {key}"
        if env_var and env.get(env_var):
            return env[env_var], f"environment variable {env_var}"
        if key in table:
            return table[key], f"{where} {key}"
        return None

    environment = pick("environment", _env.LLMGUARD_ENV)
    env_name = _string(*environment) if environment else "development"
    policy = pick("pin_policy", _env.LLMGUARD_PIN_POLICY)
    mode: PinMode = _pin_mode(*policy) if policy else ("enforce" if env_name == "production" else "warn")
    service = _pick_env_first(
        pick, overrides, env, "service_name", (_env.LLMGUARD_SERVICE_NAME, _env.OTEL_SERVICE_NAME)
    )
    capture = _pick_env_first(pick, overrides, env, "capture_content", (_env.OTEL_CAPTURE_CONTENT,))
    db = pick("db_path", _env.LLMGUARD_DB)
    inject = pick("inject_stream_usage", None)
    pywarn = pick("python_warnings", _env.LLMGUARD_PYTHON_WARNINGS)
    base = config_file.parent if config_file else (cwd or Path.cwd())
    db_path = Path(str(db[0])) if db else base / ".llmguard" / "llmguard.db"
    return Settings(
        environment=env_name,
        service_name=_string(*service) if service else "unknown_service",
        pin_policy=mode,
        pins=_pins(table, config_file, overrides.get("pins")),
        capture_content=_capture(*capture) if capture else False,
        db_path=db_path,
        inject_stream_usage=_boolean(*inject) if inject else True,
        python_warnings=_boolean(*pywarn) if pywarn else False,
        config_file=config_file,
        file_settings=table,
    )


def _pick_env_first(
    pick: Any, overrides: Mapping[str, Any], env: Mapping[str, str], key: str, env_vars: tuple[str, ...]
) -> tuple[object, str] | None:
    """Argument, then the first set environment variable, then the file (precedence arg > env > file)."""
    if overrides.get(key) is not None:
        return overrides[key], f"argument {key}"
    for var in env_vars:
        if env.get(var):
            return env[var], f"environment variable {var}"
    found: tuple[object, str] | None = pick(key, None)
    return found


def _capture(value: object, source: str) -> bool:
    """Content capture: a boolean, or the OTel GenAI modes (span_only, event_only, span_and_event, no_content)."""
    if isinstance(value, str) and value.strip().lower() in {"span_only", "event_only", "span_and_event"}:
        return True
    if isinstance(value, str) and value.strip().lower() == "no_content":
        return False
    return _boolean(value, source)
