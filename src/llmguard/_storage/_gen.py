"""Regenerate `llmguard._storage._sqlite_sql`: the SQL the stdlib SQLite runtime runs, compiled by SQLAlchemy.

    python -m llmguard._storage._gen          # rewrite the module from the schema
    python -m llmguard._storage._gen --check  # exit 1 when it is out of date (what the test checks)

Every statement is SQLAlchemy's SQLite compilation of `llmguard._storage._schema.METADATA` (the
tables and indexes ``METADATA.create_all`` creates, in its order), of Alembic's revision table as
`llmguard._storage._migrate` creates it, and of the stores' INSERTs: one schema, two runtimes.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

__all__ = ["TARGET", "render"]

TARGET = Path(__file__).with_name("_sqlite_sql.py")
"""The generated module."""

COMMAND = "python -m llmguard._storage._gen"
"""How to regenerate it (named in its header and in the test's failure)."""


LINE_LENGTH = 110
"""The project's line length (``ruff format`` leaves the generated module as it is written)."""

ALERT_COLUMNS = ("rule", "window", "fired_ns", "message")
"""The columns of `ALERT_CLAIM`, in parameter order."""


def _version_table() -> Any:
    from sqlalchemy import Column, MetaData, PrimaryKeyConstraint, String, Table

    from ._lite import VERSION_TABLE

    return Table(
        VERSION_TABLE,
        MetaData(),
        Column("version_num", String(32), nullable=False),
        PrimaryKeyConstraint("version_num", name=f"{VERSION_TABLE}_pkc"),
    )


def _positional(statement: Any, columns: tuple[str, ...]) -> str:
    """``statement`` (an INSERT or SELECT) compiled for SQLite with ``?`` parameters in ``columns`` order."""
    from sqlalchemy.dialects import sqlite

    compiled = statement.compile(dialect=sqlite.dialect())
    order = tuple(compiled.positiontup or ())
    if order != columns:
        raise AssertionError(f"compiled parameter order {order} differs from {columns}")
    return str(compiled)


def statements() -> dict[str, Any]:
    """The generated module's values, by name."""
    from sqlalchemy import bindparam, select
    from sqlalchemy.dialects import sqlite
    from sqlalchemy.dialects.sqlite import insert
    from sqlalchemy.schema import CreateIndex, CreateTable

    from llmguard.cost._ledger import COLUMNS as LEDGER_COLUMNS
    from llmguard.judging._sinks import COLUMNS as JUDGMENT_COLUMNS

    from ._migrate import head
    from ._schema import ALERTS, JUDGMENTS, LEDGER, METADATA

    dialect = sqlite.dialect()
    create: list[str] = []
    version = _version_table()
    for table in [*METADATA.sorted_tables, version]:
        create.append(str(CreateTable(table).compile(dialect=dialect)))
        for index in sorted(table.indexes, key=lambda i: str(i.name)):
            create.append(str(CreateIndex(index).compile(dialect=dialect)))
    ledger = insert(LEDGER).on_conflict_do_nothing().values(dict.fromkeys(LEDGER_COLUMNS))
    judgments = JUDGMENTS.insert().values(dict.fromkeys(JUDGMENT_COLUMNS))
    alert = insert(ALERTS).on_conflict_do_nothing().values(dict.fromkeys(ALERT_COLUMNS))
    lookup = select(LEDGER.c.call_id).where(LEDGER.c.call_id == bindparam("call_id"))
    return {
        "REVISION": head(),
        "CREATE": tuple(create),
        "STAMP": _positional(version.insert().values(version_num=None), ("version_num",)),
        "LEDGER_INSERT": _positional(ledger, LEDGER_COLUMNS),
        "JUDGMENTS_INSERT": _positional(judgments, JUDGMENT_COLUMNS),
        "LEDGER_CALL_ID": _positional(lookup, ("call_id",)),
        "ALERT_CLAIM": _positional(alert, ALERT_COLUMNS),
    }


_DOCS = {
    "REVISION": "The schema revision `CREATE` builds (the newest migration when this was generated).",
    "CREATE": "A new database: every table and index of ``METADATA``, then Alembic's revision table.",
    "STAMP": "Records the revision in a new database (parameter: the revision).",
    "LEDGER_INSERT": "One ledger row (`llmguard.cost._ledger.COLUMNS` order); a known ``call_id`` is ignored.",
    "JUDGMENTS_INSERT": "One judgment (`llmguard.judging._sinks.COLUMNS` order).",
    "LEDGER_CALL_ID": "The ledger row of a call id, if stored (feedback's known-call check).",
    "ALERT_CLAIM": "Claims a budget alert's (rule, window): one row changed when this process delivers it.",
}


def _literal(value: str) -> str:
    """``value`` as a Python literal in double quotes, as ``ruff format`` writes it."""
    text = repr(value)
    if text.startswith("'"):
        text = '"' + text[1:-1].replace("\\'", "'").replace('"', '\\"') + '"'
    return text


def render() -> str:
    """The generated module's text."""
    lines = [
        '"""SQL the stdlib SQLite runtime (`llmguard._storage._lite`) runs. GENERATED: do not edit.',
        "",
        "SQLAlchemy's SQLite compilation of `llmguard._storage._schema.METADATA` and the stores' statements.",
        f"After changing the schema or a store's columns, regenerate it: ``{COMMAND}``",
        "(tests/test_storage.py fails while it differs from what the schema compiles to).",
        '"""',
        "",
    ]
    for name, value in statements().items():
        if isinstance(value, tuple):
            lines.append(f"{name}: tuple[str, ...] = (")
            lines.extend(f"    {_literal(item)}," for item in value)
            lines.append(")")
        else:
            literal = _literal(value)
            if len(f"{name} = {literal}") > LINE_LENGTH and len(f"    {literal}") <= LINE_LENGTH:
                lines.extend([f"{name} = (", f"    {literal}", ")"])  # as ruff format wraps it
            else:
                lines.append(f"{name} = {literal}")
        lines.append(f'"""{_DOCS[name]}"""')
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the module, or with ``--check`` say whether it is current."""
    from llmguard._snapshot import snapshot_main

    return snapshot_main(argv, target=TARGET, render=render, command=COMMAND, doc=__doc__)


if __name__ == "__main__":
    sys.exit(main())
