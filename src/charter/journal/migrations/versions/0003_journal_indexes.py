"""Indexes on (kind, seq) and (run_id, seq), replacing the single-column ones.

The newest record of a kind (the kill switch's check before every step, time windows of
rate limits and anomaly rules) is then one index lookup. With an index on ``kind`` alone,
PostgreSQL walked the primary key backwards through the whole journal for a rare kind.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Replace the kind and run_id indexes with (kind, seq) and (run_id, seq)."""
    op.create_index("ix_journal_records_kind_seq", "journal_records", ["kind", "seq"])
    op.create_index("ix_journal_records_run_id_seq", "journal_records", ["run_id", "seq"])
    op.drop_index("ix_journal_records_kind", table_name="journal_records")
    op.drop_index("ix_journal_records_run_id", table_name="journal_records")


def downgrade() -> None:
    """Back to single-column indexes."""
    op.create_index("ix_journal_records_kind", "journal_records", ["kind"])
    op.create_index("ix_journal_records_run_id", "journal_records", ["run_id"])
    op.drop_index("ix_journal_records_run_id_seq", table_name="journal_records")
    op.drop_index("ix_journal_records_kind_seq", table_name="journal_records")
