"""Rollout state in the llmguard database (SQLite file or PostgreSQL URL), in the shared schema.

Two tables (`llmguard._storage._schema`): ``llmguard_rollouts`` (one row per name and label: the
latest rollout, its revision and its state as JSON) and ``llmguard_rollout_events`` (the audit
log). A write is one transaction: a conditional ``UPDATE ... WHERE revision = :expected`` (or an
``INSERT`` that the primary key makes unique) plus the event row, so compare-and-set holds across
processes and hosts.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from llmguard.exceptions import RolloutConflictError

from ._state import RolloutEvent, RolloutState, check_write

__all__ = ["EVENTS", "METADATA", "ROLLOUTS", "SQLRolloutStore", "engine_for"]


def engine_for(engine: Any) -> Any:
    """The engine of a database path, URL or `Database`, or an `Engine` as given.

    A path or URL shares the process's one pool per database (fork-safe, schema checked); a bare
    `Engine` (tests, an app's own engine) gets the two tables created if they are missing.
    """
    from llmguard._storage import Database, open_database

    if isinstance(engine, str | os.PathLike | Database):
        db = open_database(engine)
        db.ensure_schema()
        return db.engine
    METADATA.create_all(engine, tables=[ROLLOUTS, EVENTS])
    return engine


def _tables() -> tuple[Any, Any, Any]:
    from llmguard._storage._schema import METADATA, ROLLOUT_EVENTS, ROLLOUTS

    return METADATA, ROLLOUTS, ROLLOUT_EVENTS


METADATA, ROLLOUTS, EVENTS = _tables()
"""The shared schema and the rollout tables in it."""


class SQLRolloutStore:
    """Rollout state in a SQL database.

    Args:
        engine: The llmguard database (a path, a ``sqlite:///`` or ``postgresql://`` URL, a
            `Database`) or a `sqlalchemy.engine.Engine`.
    """

    def __init__(self, engine: Any) -> None:
        self.engine = engine_for(engine)

    def __repr__(self) -> str:
        return f"SQLRolloutStore({self.engine.url.render_as_string(hide_password=True)!r})"

    def read(self, name: str, label: str) -> RolloutState | None:
        """The label's latest rollout, or None."""
        import sqlalchemy as sa

        query = sa.select(ROLLOUTS.c.state).where(ROLLOUTS.c.name == name, ROLLOUTS.c.label == label)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _state(row[0], name, label)

    def write(
        self, state: RolloutState, expect_revision: int | None, event: RolloutEvent | None = None
    ) -> RolloutState:
        """Compare-and-set in one transaction, with the audit entry."""
        import sqlalchemy as sa

        key = (ROLLOUTS.c.name == state.name, ROLLOUTS.c.label == state.label)
        try:
            with self.engine.begin() as conn:
                row = conn.execute(sa.select(ROLLOUTS.c.state).where(*key)).first()
                current = None if row is None else _state(row[0], state.name, state.label)
                stored = check_write(current, state, expect_revision)
                values = {
                    "rollout_id": stored.rollout_id,
                    "revision": stored.revision,
                    "status": stored.status,
                    "state": json.dumps(stored.to_json(), sort_keys=True),
                    "updated_ns": time.time_ns(),
                }
                if current is None:
                    conn.execute(sa.insert(ROLLOUTS).values(name=state.name, label=state.label, **values))
                else:
                    done = conn.execute(
                        sa.update(ROLLOUTS)
                        .where(*key, ROLLOUTS.c.revision == current.revision)
                        .values(**values)
                    )
                    if done.rowcount != 1:
                        raise RolloutConflictError(
                            f"{state.name}: label {state.label!r}: the rollout moved while it was written; retry"
                        )
                if event is not None:
                    conn.execute(sa.insert(EVENTS).values(**_event_row(event, stored.revision)))
        except sa.exc.IntegrityError:
            raise RolloutConflictError(
                f"{state.name}: label {state.label!r}: another process started a rollout first; retry"
            ) from None
        return stored

    def events(self, name: str, label: str | None = None) -> list[RolloutEvent]:
        """The audit log, oldest first."""
        import sqlalchemy as sa

        query = sa.select(EVENTS.c.body).where(EVENTS.c.name == name).order_by(EVENTS.c.id)
        if label is not None:
            query = query.where(EVENTS.c.label == label)
        with self.engine.connect() as conn:
            return [RolloutEvent.from_json(json.loads(body)) for (body,) in conn.execute(query)]


def _state(text: str, name: str, label: str) -> RolloutState:
    return RolloutState.from_json(json.loads(text), f"llmguard_rollouts[{name}, {label}]")


def _event_row(event: RolloutEvent, revision: int) -> dict[str, Any]:
    body = event.to_json()
    body["revision"] = revision
    return {
        "name": event.name,
        "label": event.label,
        "rollout_id": event.rollout_id,
        "action": event.action,
        "revision": revision,
        "created_ns": time.time_ns(),
        "body": json.dumps(body, sort_keys=True),
    }
