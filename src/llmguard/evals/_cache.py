"""The replay cache: provider responses and judgments on disk, so a re-run is offline and deterministic.

Entries are small JSON files under ``<cache_dir>/<kind>/<2 hex>/<key>.json``: one file per entry
keeps git diffs readable and concurrent writers safe (write to a temporary name, then rename).
Response keys cover the prompt's content hash, the variables and input, the model, the request
parameters and the repeat index; judgment keys add the judge's fingerprint, the reference and the
judged output.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

__all__ = ["ReplayCache", "cache_key"]


def cache_key(**parts: Any) -> str:
    """A stable key: sha256 of the canonical JSON of ``parts``."""
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class ReplayCache:
    """A committable folder of cached responses and judgments.

    Args:
        folder: The cache folder (created on first write).
        enabled: ``False`` reads nothing and writes nothing (``--no-cache``).
    """

    def __init__(self, folder: str | Path, *, enabled: bool = True) -> None:
        self.folder = Path(folder)
        self.enabled = enabled
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ReplayCache({str(self.folder)!r}, enabled={self.enabled})"

    def _path(self, kind: str, key: str) -> Path:
        return self.folder / kind / key[:2] / f"{key}.json"

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        """The cached entry, or ``None`` (a corrupt entry counts as a miss)."""
        if not self.enabled:
            return None
        try:
            data = json.loads(self._path(kind, key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = None
        with self._lock:
            if isinstance(data, dict):
                self.hits += 1
                return data
            self.misses += 1
        return None

    def put(self, kind: str, key: str, value: dict[str, Any]) -> None:
        """Store an entry atomically (last writer wins)."""
        if not self.enabled:
            return
        path = self._path(kind, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(value, sort_keys=True, indent=1, ensure_ascii=False), encoding="utf-8")
        tmp.replace(path)
