"""The ledger's day index also holds the cost, so a budget's window total is read from the index alone.

Every process re-reads its budgets' totals from the shared ledger every second
(``refresh_interval_s``): ``SELECT SUM(cost_nanos) ... WHERE day = ?``. With ``(day)`` alone each
row of the window was looked up in the table; ``(day, cost_nanos)`` answers from the index (about
a tenth of the work on SQLite, and an index-only scan on PostgreSQL). It replaces ``cost_ledger_day``,
whose queries it serves too.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Swap the day index for the (day, cost) covering index."""
    op.create_index("cost_ledger_day_cost", "cost_ledger", ["day", "cost_nanos"])
    op.drop_index("cost_ledger_day", table_name="cost_ledger")


def downgrade() -> None:
    """Back to the day index."""
    op.create_index("cost_ledger_day", "cost_ledger", ["day"])
    op.drop_index("cost_ledger_day_cost", table_name="cost_ledger")
