"""The run lock becomes a lease; runs record their try number.

``qbo_recon_locks.heartbeat_at`` is renewed by the holder while its run goes on, and
``lease_seconds`` says how long another process must wait after the last heartbeat before it
takes the lock over (a lock row without a heartbeat, left by older code, keeps the old rule).
``qbo_recon_runs.attempt`` numbers the tries of a run retried with backoff (NULL: the first).

Revision ID: 0002_lock_lease
Revises: 0001_baseline
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_lock_lease"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the lease columns to the locks and the try number to the runs."""
    op.add_column("qbo_recon_locks", sa.Column("heartbeat_at", sa.DateTime(timezone=True)))
    op.add_column("qbo_recon_locks", sa.Column("lease_seconds", sa.Integer))
    op.add_column("qbo_recon_runs", sa.Column("attempt", sa.Integer))


def downgrade() -> None:
    """Drop them again."""
    op.drop_column("qbo_recon_runs", "attempt")
    op.drop_column("qbo_recon_locks", "lease_seconds")
    op.drop_column("qbo_recon_locks", "heartbeat_at")
