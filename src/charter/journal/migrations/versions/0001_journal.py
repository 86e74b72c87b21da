"""The journal: hash-chained records, the head, and signed checkpoints.

Databases created before migrations existed already hold some of these tables; they are
left as they are and only the missing ones are created.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the journal tables that do not exist yet."""
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "journal_records" not in existing:
        op.create_table(
            "journal_records",
            sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
            sa.Column("run_id", sa.String(64), nullable=False, index=True),
            sa.Column("kind", sa.String(64), nullable=False, index=True),
            sa.Column("ts", sa.String(40), nullable=False),
            sa.Column("payload", sa.Text, nullable=False),
            sa.Column("prev_hash", sa.String(64), nullable=False),
            sa.Column("hash", sa.String(64), nullable=False),
        )
    if "journal_meta" not in existing:
        op.create_table(
            "journal_meta",
            sa.Column("key", sa.String(64), primary_key=True),
            sa.Column("value", sa.Text, nullable=False),
        )
    if "journal_checkpoints" not in existing:
        op.create_table(
            "journal_checkpoints",
            sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
            sa.Column("hash", sa.String(64), nullable=False),
            sa.Column("key_id", sa.String(64), nullable=False),
            sa.Column("signature", sa.String(256), nullable=False),
            sa.Column("ts", sa.String(40), nullable=False),
        )


def downgrade() -> None:
    """Drop the journal (its records are lost)."""
    op.drop_table("journal_checkpoints")
    op.drop_table("journal_meta")
    op.drop_table("journal_records")
