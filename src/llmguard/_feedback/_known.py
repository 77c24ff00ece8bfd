"""Is a `CallRef`'s call id one llmguard recorded? This process first, then the guard's ledger.

A well-formed call id from a stored `CallRef` is accepted when this process knows the call (the
response-id index, a live returned object, a ledger row still queued in a writer). Otherwise, when
the guard's cost ledger is on and lives in a SQL database, the id is looked up there by primary key:
the ledger has one row per call, from every process and replica writing to that database. A row
another replica queued milliseconds ago may not be written yet (its writer wakes every
``flush_interval_s``), so a miss is looked up once more after `recheck_delay`; a second miss raises
`llmguard.FeedbackError`. Without a ledger (or with a ledger that is not a SQL database) the id
cannot be verified and is accepted: the docs say so (``docs/feedback.md``, "Call ids").

A look-up the database cannot answer (unreachable, not migrated) is logged once and the feedback
is accepted: the sink's write reports its own failure, and a storage fault never costs a vote.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from llmguard import _refs
from llmguard._internal import advise_once
from llmguard.exceptions import FeedbackError, StorageError

if TYPE_CHECKING:
    from llmguard._guard import Guard
    from llmguard._storage import Database

__all__ = ["MAX_RECHECK_S", "MIN_RECHECK_S", "recheck_delay", "verify_call_id"]

MIN_RECHECK_S = 0.5
"""The shortest wait before the second look-up of a call id the ledger does not hold (yet)."""

MAX_RECHECK_S = 5.0
"""The longest wait before that second look-up, whatever the writer's interval."""


def recheck_delay(flush_interval_s: float) -> float:
    """Seconds to wait before looking a missing id up again: five writer intervals, within bounds.

    Five intervals cover a writer that wakes late because busy threads hold the GIL (the measured
    worst loss window is about 3.6 intervals, ``benchmarks/ledger_loss.py``).
    """
    return min(MAX_RECHECK_S, max(MIN_RECHECK_S, 5 * flush_interval_s))


_sleep: Callable[[float], None] = time.sleep
"""How the second look-up waits (tests replace it to make the race deterministic)."""


def verify_call_id(guard: Guard, call_id: str) -> None:
    """Raise `FeedbackError` when ``guard``'s ledger shows that ``call_id`` names no call.

    Args:
        guard: The guard the feedback is recorded through (its ledger is looked up).
        call_id: A well-formed call id that the response-id index did not match.

    Raises:
        FeedbackError: The ledger is on and holds no row of ``call_id``, twice.
    """
    if _known_here(call_id):
        return
    from llmguard.cost._state import ledger_of, pending_in_writers

    ledger, interval = ledger_of(guard)
    db = getattr(ledger, "db", None) if ledger is not None else None
    from llmguard._storage import Database

    if not isinstance(db, Database):
        return  # no ledger, or not a SQL one: the id cannot be verified (documented)
    if pending_in_writers(call_id) or _stored(db, call_id):
        return
    delay = recheck_delay(interval)
    _sleep(delay)
    if pending_in_writers(call_id) or _stored(db, call_id):
        return
    raise FeedbackError(
        f"CallRef(call_id={call_id!r}) names no call in the ledger of {db.display} (looked up twice, "
        f"{delay:g} s apart): pass the CallRef of a call made through a guard that writes this ledger "
        "(call_ref(response) when it was made), or record feedback through the guard whose database "
        "holds the call"
    )


def _known_here(call_id: str) -> bool:
    """Whether this process still holds the call: a live returned object or the response-id index."""
    return _refs.knows_call_id(call_id)


def _stored(db: Database, call_id: str) -> bool:
    """Whether the ledger holds a row of ``call_id`` (a primary-key look-up); True when it cannot tell.

    The statement is the schema's, compiled once (`llmguard._storage._sqlite_sql`): on a SQLite file
    it runs on the stdlib ``sqlite3`` module, elsewhere through `Database.query`.
    """
    from llmguard._storage._sqlite_sql import LEDGER_CALL_ID

    try:
        found = db.read_rows(LEDGER_CALL_ID, (call_id,))
    except StorageError as exc:
        advise_once(
            "feedback-lookup",
            db.display,
            f"llmguard: cannot look feedback call ids up in the ledger ({exc}); feedback on call ids "
            "this process does not know is accepted unverified until the database answers",
        )
        return True
    return bool(found)
