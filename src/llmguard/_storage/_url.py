"""Database URLs: a path or a URL in, one canonical SQLAlchemy URL out."""

from __future__ import annotations

import os
import re
from pathlib import Path

from llmguard.exceptions import ConfigurationError

__all__ = ["DEFAULT_PATH", "display_url", "is_postgres", "resolve_url", "sqlite_path"]

DEFAULT_PATH = Path(".llmguard/llmguard.db")
"""The embedded default: a SQLite file in the project."""

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_POSTGRES = ("postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2")
_PASSWORD = re.compile(r"(://[^:/@]*:)[^@]*@")


def resolve_url(value: str | os.PathLike[str]) -> str:
    """The SQLAlchemy URL for ``value``: a file path (SQLite) or a ``sqlite://``/``postgresql://`` URL.

    ``postgres://`` and ``postgresql://`` select psycopg 3 (``postgresql+psycopg://``).

    Raises:
        ConfigurationError: Any other scheme, or an empty value.
    """
    text = os.fspath(value).strip() if not isinstance(value, str) else value.strip()
    if not text:
        raise ConfigurationError(
            "db: empty database path or URL (a file path, sqlite:///PATH or postgresql://...)"
        )
    match = _SCHEME.match(text)
    if match is None:
        return "sqlite:///:memory:" if text == ":memory:" else f"sqlite:///{Path(text).expanduser()}"
    scheme = match.group(1).lower()
    rest = text[match.end() :]
    if scheme == "sqlite":
        return f"sqlite://{rest}"
    if scheme in _POSTGRES:
        return f"postgresql+psycopg://{rest}"
    raise ConfigurationError(
        f"db: unsupported database URL scheme {scheme!r} in {display_url(text)!r}; "
        "use a file path, sqlite:///PATH or postgresql://USER@HOST/DB"
    )


def is_postgres(url: str) -> bool:
    """Whether the (resolved) URL is a PostgreSQL one."""
    return url.startswith("postgresql")


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (``None`` for in-memory or non-SQLite URLs)."""
    if not url.startswith("sqlite:///"):
        return None
    path = url[len("sqlite:///") :].split("?", 1)[0]
    return None if path in ("", ":memory:") else Path(path)


def display_url(url: str) -> str:
    """``url`` with any password masked, for messages and logs."""
    return _PASSWORD.sub(r"\1***@", url)
