"""Notebook display helpers (``_repr_html_``).

`html` (with its 0.3 MiB entity table) is imported when a table is first drawn, not with the guard.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["html_table"]


def html_table(caption: str, rows: Mapping[str, object]) -> str:
    """A small two-column HTML table; ``None`` shows as a dash."""
    from html import escape

    body = "".join(
        f"<tr><th style='text-align:left'>{escape(key)}</th><td>{escape('-' if value is None else str(value))}</td></tr>"
        for key, value in rows.items()
    )
    return f"<table><caption style='text-align:left'><b>{escape(caption)}</b></caption>{body}</table>"
