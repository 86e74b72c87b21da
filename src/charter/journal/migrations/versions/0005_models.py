"""The model registry: versions with their card, lineage, schemas and reference data, and
the artifact bytes in a table of their own (listing versions never reads them).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the ``model_versions`` and ``model_artifacts`` tables."""
    op.create_table(
        "model_versions",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("version", sa.String(64), primary_key=True),
        sa.Column("flavor", sa.String(16), nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("trusted_types", sa.Text, nullable=False),
        sa.Column("card", sa.Text, nullable=False),
        sa.Column("lineage", sa.Text, nullable=False),
        sa.Column("inputs", sa.Text, nullable=False),
        sa.Column("output", sa.Text, nullable=False),
        sa.Column("reference", sa.Text, nullable=True),
        sa.Column("registered_at", sa.String(40), nullable=False),
        sa.Column("registered_by", sa.String(128), nullable=False),
        sa.Column("stage_changed_at", sa.String(40), nullable=False),
    )
    op.create_index("ix_model_versions_name_stage", "model_versions", ["name", "stage"])
    op.create_table(
        "model_artifacts",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("version", sa.String(64), primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sa.ForeignKeyConstraint(
            ["name", "version"], ["model_versions.name", "model_versions.version"]
        ),
    )


def downgrade() -> None:
    """Drop the model registry (registered models are lost)."""
    op.drop_table("model_artifacts")
    op.drop_index("ix_model_versions_name_stage", table_name="model_versions")
    op.drop_table("model_versions")
