"""Acknowledgements (``qbo-recon ack``) and a digest of each recorded finding's values.

``qbo_recon_acks`` holds one acknowledgement per company and finding fingerprint: who, when,
the note, an optional end date, and the finding as it was (amount, values digest) so that the
acknowledgement lapses when the finding changes. ``lapsed_*`` record when and why it lapsed.
``qbo_recon_findings.values_digest`` is what the acknowledgement's digest is compared with.

Revision ID: 0003_acks
Revises: 0002_lock_lease
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_acks"
down_revision = "0002_lock_lease"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the acknowledgements table; add the values digest to findings."""
    op.add_column("qbo_recon_findings", sa.Column("values_digest", sa.String(32)))
    op.create_table(
        "qbo_recon_acks",
        sa.Column("company", sa.String(64), primary_key=True),
        sa.Column("fingerprint", sa.String(64), primary_key=True),
        sa.Column("entity", sa.String(32)),
        sa.Column("category", sa.String(32)),
        sa.Column("awra_id", sa.String(120)),
        sa.Column("awra_number", sa.String(120)),
        sa.Column("qbo_id", sa.String(120)),
        sa.Column("field", sa.String(64)),
        sa.Column("party", sa.Text),
        sa.Column("amount_cents", sa.BigInteger),
        sa.Column("values_digest", sa.String(32)),
        sa.Column("run_id", sa.String(120)),
        sa.Column("ack_by", sa.String(200), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("ack_at", _TS, nullable=False),
        sa.Column("until", sa.Date),
        sa.Column("lapsed_at", _TS),
        sa.Column("lapsed_reason", sa.Text),
        sa.Column("lapsed_run_id", sa.String(120)),
    )


def downgrade() -> None:
    """Drop them again."""
    op.drop_table("qbo_recon_acks")
    op.drop_column("qbo_recon_findings", "values_digest")
