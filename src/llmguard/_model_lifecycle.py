"""Model lifecycle data: deprecation and shutdown dates and recommended replacements.

The bundled table is the OpenAI and Anthropic part of the modeldeprecations.dev dataset
(MIT licensed; ``llmguard/data/model_deprecations/LICENSE`` ships beside it). ``llmguard pins
update`` refreshes it from the dataset's JSON API into a user cache file, which wins over the
bundled snapshot when it is present and valid. The pin policy and ``llmguard pins check`` read
it through `current_table`; every lookup is by provider and lower-cased model id or alias.

A model's state on a day follows the dataset's own rule (`ModelLifecycle.status_on`): a
committed shutdown that has passed means retired; an announced deprecation (or a future
shutdown date) means deprecated; a soft "not sooner than" date in the future changes nothing.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

from ._env import LLMGUARD_CACHE_DIR
from .exceptions import ModelDataError

__all__ = [
    "DEFAULT_SOURCE_URL",
    "LIFECYCLE_PROVIDERS",
    "MAX_TABLE_BYTES",
    "LifecycleTable",
    "ModelLifecycle",
    "Status",
    "bundled_table",
    "cache_dir",
    "cache_file",
    "current_table",
    "parse_table",
    "today_utc",
    "write_table",
]

Status = Literal["active", "deprecated", "retired"]
_STATUSES: tuple[Status, ...] = ("active", "deprecated", "retired")

DEFAULT_SOURCE_URL = "https://modeldeprecations.dev/api/v1/models.json"
"""The dataset's JSON API (its README: ``curl https://modeldeprecations.dev/api/v1/models.json``)."""

LIFECYCLE_PROVIDERS = frozenset({"openai", "anthropic"})
"""Pin providers the table speaks for: the providers' own APIs (Azure, Bedrock and Vertex retire on their own schedules)."""

MAX_TABLE_BYTES = 8 * 1024 * 1024
"""The largest table accepted, bundled, cached or downloaded."""

_MAX_ENTRIES = 20_000
_MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/-]{0,255}")
_DATE_FIELDS = ("released_on", "deprecated_on", "shutdown_on", "earliest_shutdown_on")
_BUNDLED = "bundled llmguard/data/model_deprecations/openai-anthropic.json"


def today_utc() -> date:
    """Today's date in UTC, the day lifecycle states are computed for."""
    return datetime.now(UTC).date()


@dataclass(frozen=True, slots=True)
class ModelLifecycle:
    """The lifecycle of one model (and its aliases) at one provider.

    Attributes:
        provider: ``"openai"`` or ``"anthropic"``.
        model: The canonical model id.
        aliases: Other ids (dated snapshots, pointers) that resolve to this entry.
        status: The status as authored (true as of ``last_verified``).
        deprecated_on: When the provider announced the deprecation.
        shutdown_on: The committed shutdown date.
        earliest_shutdown_on: A soft "not sooner than" shutdown date.
        replacement: The recommended replacement (else the first one listed), or None.
        sources: URLs of the provider pages the dates come from.
        last_verified: When the entry was last checked against its sources.
    """

    provider: str
    model: str
    aliases: tuple[str, ...]
    status: Status
    deprecated_on: date | None
    shutdown_on: date | None
    earliest_shutdown_on: date | None
    replacement: str | None
    sources: tuple[str, ...]
    last_verified: date

    @property
    def shutdown(self) -> date | None:
        """The date the model stops answering: the committed one, else the soft one."""
        return self.shutdown_on or self.earliest_shutdown_on

    def status_on(self, day: date) -> Status:
        """The model's state on ``day`` (the dataset's ``computed_status`` rule)."""
        if self.shutdown is not None and self.shutdown <= day:
            return "retired"
        if self.deprecated_on is not None or self.shutdown_on is not None:
            return "deprecated"
        return self.status

    def certainly_retired(self, day: date) -> bool:
        """Retired by a committed fact: a passed ``shutdown_on``, or (without one) an authored ``retired``.

        A passed soft ``earliest_shutdown_on`` alone makes `status_on` say retired, but not this:
        the provider only promised "not sooner than", so the pin policy advises instead of refusing.
        """
        if self.shutdown_on is not None:
            return self.shutdown_on <= day
        return self.status == "retired"

    def days_left(self, day: date) -> int | None:
        """Days from ``day`` to the shutdown (negative once passed), or None without a date."""
        return None if self.shutdown is None else (self.shutdown - day).days

    def replace_hint(self) -> str:
        """``"; replace it with 'x'"``, or a pointer to the sources when no replacement is named."""
        if self.replacement:
            return f"; replace it with {self.replacement!r}"
        return "; see the provider's deprecation page for a replacement"


@dataclass(frozen=True, slots=True)
class LifecycleTable:
    """An indexed lifecycle table.

    Attributes:
        entries: Every entry, in source order.
        source: Where it was read from (``"bundled ..."``, a file path or a URL).
    """

    entries: tuple[ModelLifecycle, ...]
    source: str
    _index: Mapping[tuple[str, str], ModelLifecycle] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, entries: tuple[ModelLifecycle, ...], source: str) -> LifecycleTable:
        """Index entries by (provider, id) and (provider, alias); a canonical id wins over an alias."""
        index: dict[tuple[str, str], ModelLifecycle] = {}
        for entry in entries:
            for alias in entry.aliases:
                index.setdefault((entry.provider, alias.lower()), entry)
        for entry in entries:
            index[entry.provider, entry.model.lower()] = entry
        return cls(entries, source, index)

    def lookup(self, model: str, provider: str) -> ModelLifecycle | None:
        """The entry for a model sent to a provider, or None (unknown model or provider)."""
        if provider not in LIFECYCLE_PROVIDERS:
            return None
        name = model.strip().lower()
        prefix = provider + "/"
        return self._index.get((provider, name[len(prefix) :] if name.startswith(prefix) else name))


# --- parsing ---------------------------------------------------------------------------------


def _fail(source: str, where: str, problem: str) -> ModelDataError:
    return ModelDataError(f"{source}: {where}: {problem}; the table was not used")


def _str(entry: Mapping[str, Any], key: str, where: str, source: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not _MODEL_ID.fullmatch(value):
        raise _fail(source, f"{where} field {key!r}", f"expected a model id string, got {value!r:.80}")
    return value


def _date(entry: Mapping[str, Any], key: str, where: str, source: str) -> date | None:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise _fail(source, f"{where} field {key!r}", f"expected an ISO date YYYY-MM-DD, got {value!r:.80}")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise _fail(source, f"{where} field {key!r}", f"not a calendar date: {value!r}") from exc


def _list(entry: Mapping[str, Any], key: str, where: str, source: str) -> list[Any]:
    value = entry.get(key, [])
    if not isinstance(value, list):
        raise _fail(source, f"{where} field {key!r}", f"expected a list, got {type(value).__name__}")
    return value


def _replacement(entry: Mapping[str, Any], where: str, source: str) -> str | None:
    chosen: str | None = None
    for at, item in enumerate(_list(entry, "replacements", where, source)):
        here = f"{where} replacements[{at}]"
        if not isinstance(item, dict):
            raise _fail(source, here, "expected an object")
        model = _str(item, "model", here, source)
        recommended = item.get("recommended", False)
        if not isinstance(recommended, bool):
            raise _fail(
                source, f"{here} field 'recommended'", f"expected true or false, got {recommended!r:.40}"
            )
        if recommended:
            return model
        chosen = chosen or model
    return chosen


def _sources(entry: Mapping[str, Any], where: str, source: str) -> tuple[str, ...]:
    urls = []
    for at, item in enumerate(_list(entry, "sources", where, source)):
        url = item.get("url") if isinstance(item, dict) else item
        if not isinstance(url, str) or not url.startswith(("https://", "http://")) or len(url) > 2048:
            raise _fail(source, f"{where} sources[{at}]", f"expected a URL, got {url!r:.80}")
        urls.append(url)
    return tuple(urls)


def _entry(raw: object, at: int, source: str) -> ModelLifecycle:
    where = f"entry {at}"
    if not isinstance(raw, dict):
        raise _fail(source, where, f"expected an object, got {type(raw).__name__}")
    model = _str(raw, "model", where, source)
    where = f"entry {at} ({model!r})"
    status = raw.get("status")
    if status not in _STATUSES:
        raise _fail(
            source, f"{where} field 'status'", f"expected one of {', '.join(_STATUSES)}, got {status!r:.40}"
        )
    dates = {key: _date(raw, key, where, source) for key in _DATE_FIELDS}
    verified = _date(raw, "last_verified", where, source)
    if verified is None:
        raise _fail(source, f"{where} field 'last_verified'", "missing")
    deprecated, shutdown = dates["deprecated_on"], dates["shutdown_on"]
    if deprecated is not None and shutdown is not None and shutdown < deprecated:
        raise _fail(source, f"{where} field 'shutdown_on'", f"{shutdown} precedes deprecated_on {deprecated}")
    aliases = tuple(
        _str({"alias": a}, "alias", f"{where} aliases", source) for a in _list(raw, "aliases", where, source)
    )
    return ModelLifecycle(
        provider=_str(raw, "provider", where, source),
        model=model,
        aliases=aliases,
        status=status,
        deprecated_on=deprecated,
        shutdown_on=shutdown,
        earliest_shutdown_on=dates["earliest_shutdown_on"],
        replacement=_replacement(raw, where, source),
        sources=_sources(raw, where, source),
        last_verified=verified,
    )


def _raw_entries(document: object, source: str) -> list[Any]:
    if isinstance(document, dict):  # the API's catalog: {"$schema", "generatedAt", "count", "models": [...]}
        models = document.get("models")
        if not isinstance(models, list):
            raise _fail(source, "top level", "expected a list of models or an object with a 'models' list")
        count = document.get("count")
        if count is not None and count != len(models):
            raise _fail(source, "field 'count'", f"says {count!r:.20} but 'models' has {len(models)} entries")
        return models
    if isinstance(document, list):
        return document
    raise _fail(source, "top level", f"expected a list of models, got {type(document).__name__}")


def parse_table(data: bytes, source: str) -> LifecycleTable:
    """Validate and index lifecycle data (the bundled list, or the API's catalog object).

    Only OpenAI and Anthropic entries are kept. Fields llmguard reads are checked strictly
    (types, model id shape, real ISO dates, one status of three); others are ignored.

    Args:
        data: The JSON document, at most `MAX_TABLE_BYTES`.
        source: Its origin, named in errors.

    Raises:
        ModelDataError: The document is too large, not JSON, or an entry is malformed; or it
            holds no OpenAI or no Anthropic entry (a truncated download must not replace a table).
    """
    if len(data) > MAX_TABLE_BYTES:
        raise _fail(source, "size", f"{len(data)} bytes is over the {MAX_TABLE_BYTES}-byte limit")
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise _fail(
            source, "JSON", str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        ) from exc
    raw = _raw_entries(document, source)
    if len(raw) > _MAX_ENTRIES:
        raise _fail(source, "size", f"{len(raw)} entries is over the {_MAX_ENTRIES}-entry limit")
    kept = tuple(
        _entry(item, at, source)
        for at, item in enumerate(raw)
        if not (isinstance(item, dict) and isinstance(item.get("provider"), str))
        or item["provider"] in LIFECYCLE_PROVIDERS
    )
    missing = sorted(LIFECYCLE_PROVIDERS - {entry.provider for entry in kept})
    if missing:
        raise _fail(source, "content", f"no entry for {', '.join(missing)}")
    return LifecycleTable.build(kept, source)


# --- where the table lives ---------------------------------------------------------------------


@functools.cache
def bundled_table() -> LifecycleTable:
    """The snapshot shipped with llmguard (parsed once)."""
    folder = importlib.resources.files("llmguard") / "data" / "model_deprecations"
    return parse_table((folder / "openai-anthropic.json").read_bytes(), _BUNDLED)


def cache_dir(env: Mapping[str, str] | None = None) -> Path:
    r"""The per-user cache folder of llmguard.

    ``$LLMGUARD_CACHE_DIR`` when that variable is set, else ``$XDG_CACHE_HOME/llmguard``
    (``~/.cache/llmguard``; ``%LOCALAPPDATA%\\llmguard`` on Windows).
    """
    env = os.environ if env is None else env
    if env.get(LLMGUARD_CACHE_DIR):
        return Path(env[LLMGUARD_CACHE_DIR])
    base = env.get("LOCALAPPDATA") if os.name == "nt" else env.get("XDG_CACHE_HOME")
    return Path(base or Path.home() / ".cache") / "llmguard"


def cache_file(env: Mapping[str, str] | None = None) -> Path:
    """Where ``llmguard pins update`` writes the refreshed table: ``model_deprecations.json`` in `cache_dir`."""
    return cache_dir(env) / "model_deprecations.json"


@functools.lru_cache(maxsize=4)
def _read_cached(path: str, mtime_ns: int, size: int) -> LifecycleTable:
    with open(path, "rb") as handle:
        data = handle.read(MAX_TABLE_BYTES + 1)
    return parse_table(data, path)


def current_table(path: Path | None = None) -> LifecycleTable:
    """The refreshed table from the cache file when present, else the bundled snapshot.

    Raises:
        ModelDataError: The cache file exists but is invalid (callers at run time report it
            once and use `bundled_table`).
    """
    path = cache_file() if path is None else path
    try:
        stat = path.stat()
    except OSError:
        return bundled_table()
    try:
        return _read_cached(str(path), stat.st_mtime_ns, stat.st_size)
    except OSError as exc:
        raise ModelDataError(f"{path}: cannot read the cached model table: {exc}") from exc


def write_table(data: bytes, path: Path) -> LifecycleTable:
    """Validate ``data`` and, only when it is valid, replace ``path`` atomically.

    Raises:
        ModelDataError: Invalid data (``path`` is left untouched) or an unwritable folder.
    """
    table = parse_table(data, str(path))
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".model_deprecations.", dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise ModelDataError(f"{path}: cannot write the model table: {exc}") from exc
    return table
