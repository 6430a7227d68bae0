"""Baseline: the run-history schema as qbo-recon created it before Alembic.

A database made by that code has these tables and no version table; ``ensure_schema``
recognises it and stamps this revision instead of running it. The DDL is frozen here (plain
SQLAlchemy types, not the store's), so later changes to the store never change history.

Revision ID: 0001_baseline
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the runs, findings and locks tables."""
    op.create_table(
        "qbo_recon_findings",
        sa.Column("run_id", sa.String(120), primary_key=True),
        sa.Column("fingerprint", sa.String(64), primary_key=True),
        sa.Column("company", sa.String(64), nullable=False),
        sa.Column("entity", sa.String(32)),
        sa.Column("category", sa.String(32)),
        sa.Column("awra_id", sa.String(120)),
        sa.Column("awra_number", sa.String(120)),
        sa.Column("qbo_id", sa.String(120)),
        sa.Column("field", sa.String(64)),
        sa.Column("party", sa.Text),
        sa.Column("amount_cents", sa.BigInteger),
        sa.Column("history_status", sa.String(16)),
        sa.Column("first_seen", _TS, nullable=False),
    )
    op.create_index("ix_qbo_recon_findings_company_fp", "qbo_recon_findings", ["company", "fingerprint"])
    op.create_table(
        "qbo_recon_locks",
        sa.Column("company", sa.String(64), primary_key=True),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(200)),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("pid_start", sa.String(32)),
        sa.Column("acquired_at", _TS, nullable=False),
    )
    op.create_table(
        "qbo_recon_runs",
        sa.Column("run_id", sa.String(120), primary_key=True),
        sa.Column("company", sa.String(64), nullable=False),
        sa.Column("date_from", sa.Date, nullable=False),
        sa.Column("date_to", sa.Date, nullable=False),
        sa.Column("status_filter", sa.String(32)),
        sa.Column("entities", sa.String(200)),
        sa.Column("triggered_by", sa.String(32), nullable=False),
        sa.Column("started_at", _TS, nullable=False),
        sa.Column("finished_at", _TS),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("counts", sa.Text),
        sa.Column("history", sa.Text),
        sa.Column("open_findings", sa.Integer),
        sa.Column("report_dir", sa.Text),
        sa.Column("email_status", sa.Text),
        sa.Column("code_version", sa.String(80)),
        sa.Column("qbo_minor_version", sa.Integer),
        sa.Column("inputs_hash", sa.String(128)),
        sa.Column("owner", sa.String(200)),
        sa.Column("owner_host", sa.String(255)),
        sa.Column("owner_pid", sa.Integer),
    )
    op.create_index("ix_qbo_recon_runs_company_started", "qbo_recon_runs", ["company", "started_at"])


def downgrade() -> None:
    """Drop the three tables."""
    op.drop_table("qbo_recon_runs")
    op.drop_table("qbo_recon_locks")
    op.drop_table("qbo_recon_findings")
