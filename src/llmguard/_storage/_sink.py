"""One sink protocol for every store: ``write(batch)``.

The ledger's rows, judging's judgments and feedback entries all go to their stores (or to your
own sink) the same way: a sequence of items per call, written atomically where the store can, and
raising on failure (the caller logs and counts it; the app never sees it). A leaf module: no
SQLAlchemy, so a custom sink costs no import.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar, runtime_checkable

__all__ = ["Sink"]

T_contra = TypeVar("T_contra", contravariant=True)


@runtime_checkable
class Sink(Protocol[T_contra]):
    """Where a store's items go: one batch per call."""

    def write(self, items: Sequence[T_contra], /) -> None:
        """Store ``items`` (a batch); raise on failure."""
