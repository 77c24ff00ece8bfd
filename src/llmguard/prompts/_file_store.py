"""The git-native file store: ``<root>/<name>/v<semver>.yaml``, ``labels.yaml`` and ``history.jsonl``.

Version files are reviewed artifacts: llmguard reads them and never rewrites them. Labels live in
a small pointer file per prompt (``labels.yaml``) next to an append-only ``history.jsonl``;
moves take an exclusive file lock and replace ``labels.yaml`` atomically, so concurrent
promotions from several processes are safe. Changed files are re-read (by mtime and size).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from llmguard.exceptions import PromptFormatError, PromptNotFoundError

from ._labels import LabelMove, LabelTarget, check_label, history_line, parse_target
from ._loader import MAX_FILE_BYTES, load_text, parse_version_file, read_text, version_from_filename
from ._model import ArtifactKind, PromptVersion, check_name
from ._store import PromptEntry, check_move

__all__ = ["HISTORY_FILE", "LABELS_FILE", "FileStore", "file_lock"]

LABELS_FILE = "labels.yaml"
HISTORY_FILE = "history.jsonl"
_LOCK_FILE = ".labels.lock"
_MAX_HISTORY_BYTES = 64_000_000
_HEADER = "# Label pointers, written by `llmguard prompts promote/rollback`; history.jsonl has every move.\n"


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if needed), across processes."""
    with open(path, "a+b") as handle:
        if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
            import msvcrt

            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)
            try:
                yield
            finally:
                handle.seek(0)
                msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class FileStore:
    """Versions as YAML files in a folder per prompt (git is their history).

    Args:
        root: The folder holding one sub-folder per prompt (default ``./prompts``).
        kind: ``prompt`` or ``config`` (config artifacts live in their own root, e.g. ``./configs``).
    """

    def __init__(self, root: str | Path = "prompts", *, kind: ArtifactKind = "prompt") -> None:
        self.root = Path(root)
        self.kind: ArtifactKind = kind
        self._files: dict[Path, tuple[tuple[int, int], PromptVersion]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"FileStore({str(self.root)!r}, kind={self.kind!r})"

    def folder(self, name: str) -> Path:
        """The folder of ``name``, refusing names that would escape the root."""
        check_name(name)
        folder = self.root / name
        root = self.root.resolve()
        if not folder.resolve().is_relative_to(root):
            raise PromptFormatError(f"invalid prompt name {name!r}: resolves outside {self.root}")
        return folder

    def names(self) -> list[str]:
        """Every folder of the root that holds at least one version file."""
        if not self.root.is_dir():
            return []
        return sorted(
            p.name
            for p in self.root.iterdir()
            if p.is_dir() and any(version_from_filename(f) for f in p.iterdir())
        )

    def version_files(self, name: str) -> dict[str, Path]:
        """Version -> file for ``name``; two files for one version is an error."""
        folder = self.folder(name)
        if not folder.is_dir():
            raise PromptNotFoundError(f"no {self.kind} named {name!r} in {self.root} (no folder {folder})")
        found: dict[str, Path] = {}
        for path in sorted(folder.iterdir()):
            version = version_from_filename(path)
            if version is None or not path.is_file():
                continue
            if version in found:
                raise PromptFormatError(
                    f"{path}: field version: duplicate version {version} (also {found[version]})"
                )
            found[version] = path
        return found

    def read_version(self, path: Path, name: str, version: str) -> PromptVersion:
        """Parse one version file (re-read only when its mtime or size changed)."""
        stat = path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            cached = self._files.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        if stat.st_size > MAX_FILE_BYTES:
            raise PromptFormatError(f"{path}: file is {stat.st_size} bytes; the limit is {MAX_FILE_BYTES}")
        data = load_text(read_text(path), str(path))
        parsed = parse_version_file(
            data, name=name, kind=self.kind, source=str(path), expected_version=version
        )
        with self._lock:
            self._files[path] = (stamp, parsed)
        return parsed

    def read_labels(self, name: str) -> dict[str, LabelTarget]:
        """The current label pointers of ``name`` (empty when it has no ``labels.yaml``)."""
        path = self.folder(name) / LABELS_FILE
        if not path.is_file():
            return {}
        data = load_text(read_text(path), str(path)) or {}
        if not isinstance(data, Mapping):
            raise PromptFormatError(f"{path}: expected a mapping of label: version")
        return {check_label(k, str(path)): parse_target(v, f"{path}: field {k}") for k, v in data.items()}

    def load(self, name: str) -> PromptEntry:
        """One name's versions and labels, from disk."""
        versions = {v: self.read_version(p, name, v) for v, p in self.version_files(name).items()}
        return PromptEntry(name, versions, self.read_labels(name))

    def move_label(self, move: LabelMove, target: LabelTarget, expect: object) -> LabelMove:
        """Compare-and-set under an exclusive file lock; replace ``labels.yaml`` atomically, append history."""
        folder = self.folder(move.name)
        with file_lock(folder / _LOCK_FILE):
            entry = self.load(move.name)
            move = check_move(entry.versions, entry.labels.get(move.label), move, target, expect)
            labels: dict[str, Any] = {k: _dumpable(v) for k, v in entry.labels.items()}
            labels[move.label] = _dumpable(target)
            body = yaml.safe_dump(labels, sort_keys=True, default_flow_style=False, allow_unicode=True)
            _atomic_write(folder / LABELS_FILE, _HEADER + body)
            with open(folder / HISTORY_FILE, "a", encoding="utf-8") as handle:
                handle.write(history_line(move))
                handle.flush()
                os.fsync(handle.fileno())
        return move

    def history(self, name: str) -> list[LabelMove]:
        """Every move recorded in ``history.jsonl``, oldest first."""
        path = self.folder(name) / HISTORY_FILE
        if not path.is_file():
            return []
        moves = []
        # Split on "\n" only: str.splitlines() also breaks on U+2028 and friends inside JSON strings.
        for number, line in enumerate(read_text(path, _MAX_HISTORY_BYTES).split("\n"), start=1):
            if not line.strip():
                continue
            try:
                moves.append(LabelMove.from_json(json.loads(line)))
            except (ValueError, KeyError, TypeError, RecursionError) as exc:
                raise PromptFormatError(f"{path}: line {number}: malformed history entry: {exc}") from None
        return moves


def _dumpable(target: LabelTarget) -> Any:
    if isinstance(target, str):
        return target
    return {k: int(w) for k, w in target.items()}
