"""Worker heartbeats, so live workers can take over the runs of a dead one.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the ``charter_workers`` table."""
    op.create_table(
        "charter_workers",
        sa.Column("worker_id", sa.String(128), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("started_ms", sa.BigInteger, nullable=False),
        sa.Column("beat_ms", sa.BigInteger, nullable=False),
        sa.Column("taken_over_by", sa.String(128), nullable=True),
    )


def downgrade() -> None:
    """Drop the ``charter_workers`` table."""
    op.drop_table("charter_workers")
