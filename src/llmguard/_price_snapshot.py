"""The genai-prices table, loaded one provider at a time from a per-user cache file.

``import genai_prices.data`` builds every provider's every model as Python objects (about 3.5 MiB
of RSS) although a process prices a handful of models. The first process that needs a price
after genai-prices is installed or upgraded imports that module once, writes the table to
``<cache_dir>/genai-prices-<version>-<sha256 of the data module>.pickle`` (each provider's models as
their own pickle, then a small index of the providers, without descriptions, comments or usage extractors) and
drops the module again; every other process reads the index and the models of the providers it
actually looks up (about 0.3 MiB for OpenAI's). Lookups still run genai-prices' own matching
(`DataSnapshot.find_provider_model`, model fallbacks included) on genai-prices' own types, so the
prices are the same; the file's name changes with genai-prices' version and its data module's
content, so ``pip install -U genai-prices`` brings new prices (and environments with the same data
share one file).

The cache is not used (genai-prices' `get_snapshot` is) when the application already imported
``genai_prices.data`` (it costs nothing more) or installed its own snapshot (``UpdatePrices``),
and when the folder cannot be written. A pickle runs code when loaded: the file is read only when
it belongs to this user and nobody else may write it, like Python's own ``__pycache__``. A process
that loaded the file keeps it open, so a cache cleaned or rebuilt meanwhile does not affect it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import importlib.util
import os
import pickle
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ._model_lifecycle import cache_dir

__all__ = ["CachedSnapshot", "current_snapshot"]

_FORMAT = 2
"""Bumped when the file's layout changes."""
_PREFIX = "genai-prices-"
_STALE_S = 30 * 86_400
"""A cache file older than this is removed when another one is written (rebuilt if still in use)."""
_lock = threading.Lock()
_read_lock = threading.Lock()
_cached: tuple[str, CachedSnapshot] | None = None


class CachedSnapshot:
    """A genai-prices `DataSnapshot` whose providers' models are read from the cache file on first use."""

    from_auto_update = False

    def __init__(self, path: Path) -> None:
        from genai_prices.data_snapshot import DataSnapshot

        # The file stays open: a cache cleaned or replaced meanwhile still serves this process.
        self._fd = _open_owned(path)
        weakref.finalize(self, os.close, self._fd)
        end = os.fstat(self._fd).st_size - 8
        size = int.from_bytes(_read_at(self._fd, end, 8), "big")
        providers, self._spans = pickle.loads(_read_at(self._fd, end - size, size))
        self._snapshot = DataSnapshot(providers=providers, from_auto_update=False)
        self.timestamp = self._snapshot.timestamp
        self._loaded: set[str] = set()

    def find_provider_model(
        self, model_ref: str, provider: Any, provider_id: str | None, provider_api_url: str | None
    ) -> tuple[Any, Any]:
        """`DataSnapshot.find_provider_model`, after loading the models it may look at.

        Raises:
            LookupError: No provider or no model matches (as genai-prices raises it).
        """
        found = self._snapshot.find_provider(model_ref.lower(), provider_id, provider_api_url)
        self._load(found)
        by_id = {p.id: p for p in self._snapshot.providers}
        for fallback in found.fallback_model_providers or ():
            if fallback in by_id:
                self._load(by_id[fallback])
        return self._snapshot.find_provider_model(model_ref, provider, provider_id, provider_api_url)

    def _load(self, provider: Any) -> None:
        if provider.id in self._loaded:
            return
        offset, length = self._spans[provider.id]
        provider.models = pickle.loads(_read_at(self._fd, offset, length))
        self._loaded.add(provider.id)


def current_snapshot() -> Any:
    """The snapshot to price from: genai-prices' own when it is in memory or custom, else the cache file."""
    global _cached
    from genai_prices import data_snapshot

    if getattr(data_snapshot, "_custom_snapshot", None) is not None or "genai_prices.data" in sys.modules:
        return data_snapshot.get_snapshot()
    with _lock:
        try:
            path = _cache_path()
        except (OSError, RuntimeError):  # no data file to key by, or no home folder for the cache
            return data_snapshot.get_snapshot()
        if _cached is not None and _cached[0] == path.name:
            return _cached[1]  # the same data, wherever its file (the cache folder may have changed)
        try:
            snapshot = CachedSnapshot(path)
        except Exception:  # missing, stale layout, unreadable or not ours: (re)build it
            snapshot = _build(path)
        if isinstance(snapshot, CachedSnapshot):
            _cached = (path.name, snapshot)
        return snapshot


def _cache_path() -> Path:
    import genai_prices

    spec = importlib.util.find_spec("genai_prices.data")
    origin = spec.origin if spec is not None else None
    if origin is None:
        raise OSError("genai_prices.data has no source file to key the cache by")
    stat = os.stat(origin)
    digest = _digest(origin, stat.st_size, stat.st_mtime_ns)
    return cache_dir() / f"{_PREFIX}{genai_prices.__version__}-{digest}.pickle"


@functools.lru_cache(maxsize=4)
def _digest(origin: str, size: int, mtime_ns: int) -> str:
    """The key of the data module's content (the same file in two environments shares one cache file)."""
    with open(origin, "rb") as handle:
        content = hashlib.file_digest(handle, "sha256")
    content.update(f"|{_FORMAT}|{sys.version_info[:2]}".encode())
    return content.hexdigest()[:20]


def _build(path: Path) -> Any:
    """Write the cache file from ``genai_prices.data``, then drop that module; its snapshot if writing fails."""
    from genai_prices import data_snapshot

    snapshot = data_snapshot.get_snapshot()
    try:
        _write(path, _serialise(snapshot.providers))
        cached = CachedSnapshot(path)
    except (OSError, pickle.PickleError, EOFError, TypeError, AttributeError, ValueError):
        return snapshot  # an unwritable cache folder: price from the full table, as without the cache
    del snapshot
    _unload()
    return cached


def _serialise(providers: list[Any]) -> Iterator[bytes]:
    """The file, in parts: each provider's models, then the index of providers, then the index's length.

    One provider's slimmed copy at a time, written as it is made: the build adds little to the
    memory the full table already takes.
    """
    spans: dict[str, tuple[int, int]] = {}
    heads: list[Any] = []
    offset = 0
    for provider in providers:
        blob = pickle.dumps(
            [
                dataclasses.replace(m, name=None, description=None, price_comments=None, context_window=None)
                for m in provider.models
            ],
            protocol=pickle.HIGHEST_PROTOCOL,
        )
        spans[provider.id] = (offset, len(blob))
        offset += len(blob)
        yield blob
        heads.append(
            dataclasses.replace(
                provider, pricing_urls=None, description=None, price_comments=None, extractors=None, models=[]
            )
        )
    index = pickle.dumps((heads, spans), protocol=pickle.HIGHEST_PROTOCOL)
    yield index
    yield len(index).to_bytes(8, "big")


def _write(path: Path, parts: Iterable[bytes]) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".genai-prices.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            for part in parts:
                handle.write(part)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    stale = time.time() - _STALE_S
    for old in path.parent.glob(f"{_PREFIX}*.pickle"):
        # Files of other genai-prices releases (or of other environments: kept while they are recent).
        with contextlib.suppress(OSError):
            if old != path and old.stat().st_mtime < stale:
                old.unlink()


def _unload() -> None:
    """Forget ``genai_prices.data`` (imported here, for the build) so its memory goes back to the allocator."""
    import genai_prices
    from genai_prices import data_snapshot

    bundled = getattr(data_snapshot, "_bundled_snapshot", None)
    if bundled is not None:
        bundled.cache_clear()
    sys.modules.pop("genai_prices.data", None)
    genai_prices.__dict__.pop("data", None)


def _open_owned(path: Path) -> int:
    """Open ``path`` for reading when this user owns it and no one else may write it.

    Raises:
        PermissionError: Someone else owns or may write the file.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    if hasattr(os, "getuid"):
        stat = os.fstat(fd)
        if stat.st_uid != os.getuid() or stat.st_mode & 0o022:
            os.close(fd)
            raise PermissionError(f"{path}: not owned by this user or writable by others; not loaded")
    return fd


def _read_at(fd: int, offset: int, length: int) -> bytes:
    if hasattr(os, "pread"):
        data = os.pread(fd, length, offset)
    else:  # Windows
        with _read_lock:
            os.lseek(fd, offset, os.SEEK_SET)
            data = os.read(fd, length)
    if len(data) != length:
        raise EOFError(f"the price cache file ends early ({len(data)} of {length} bytes at {offset})")
    return data


def _reinit_after_fork() -> None:
    global _lock, _read_lock
    _lock, _read_lock = threading.Lock(), threading.Lock()  # a parent thread may have held one at fork time


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_after_fork)
