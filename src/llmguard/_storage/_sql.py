"""SQL fragments that differ between SQLite and PostgreSQL: JSON values stored as text.

Tags are a JSON array and metadata a JSON object, both in text columns (portable). Each helper
returns SQL with ``?`` placeholders (see `Database.query`) and says which parameter to bind.
"""

from __future__ import annotations

import json
from typing import Any, Literal

__all__ = ["Dialect", "dialect_of", "json_array_has", "json_elements", "json_get", "json_key_param"]

Dialect = Literal["sqlite", "postgresql"]


def dialect_of(store: object) -> Dialect:
    """The dialect of a store with a ``db`` (`Database`) attribute; SQLite for anything else."""
    db = getattr(store, "db", None)
    return "postgresql" if getattr(db, "dialect", None) == "postgresql" else "sqlite"


def json_array_has(dialect: Dialect, column: str) -> tuple[str, Any]:
    """(SQL true when the JSON array in ``column`` holds the bound value, how to bind a value)."""
    if dialect == "postgresql":
        return f"({column} IS NOT NULL AND CAST({column} AS jsonb) @> CAST(? AS jsonb))", _as_array
    return f"EXISTS (SELECT 1 FROM json_each({column}) WHERE json_each.value = ?)", _same


def json_get(dialect: Dialect, column: str) -> str:
    """SQL for the text value, in the JSON object in ``column``, of the key bound with `json_key_param`."""
    if dialect == "postgresql":
        return f"(CAST({column} AS jsonb) ->> ?)"
    return f"json_extract({column}, ?)"


def json_key_param(dialect: Dialect, key: str) -> str:
    """The parameter naming ``key`` for `json_get` (keys are letters, digits and ``_ . -``)."""
    if dialect == "postgresql":
        return key
    return '$."' + key.replace('"', "") + '"'


def json_elements(dialect: Dialect, column: str, alias: str) -> str:
    """A FROM item with one row per element of the JSON array in ``column``, as ``alias.value``."""
    if dialect == "postgresql":
        return f"jsonb_array_elements_text(COALESCE(CAST({column} AS jsonb), CAST('[]' AS jsonb))) AS {alias}(value)"
    return f"json_each({column}) AS {alias}"


def _as_array(value: str) -> str:
    return json.dumps([value])


def _same(value: str) -> str:
    return value
