"""review: undo and bulk-accept batches in the audit trail; training runs: progress

Revision ID: 0004
Revises: 0003_issue19
Create Date: 2026-12-06 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003_issue19"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cell_reviews") as batch:
        # the actions one bulk accept made share a batch id: undoing one undoes them all
        batch.add_column(sa.Column("batch", sa.String(40), nullable=True))
        # an `undo` row names the audit row it reverses
        batch.add_column(sa.Column("undoes", sa.Integer(), nullable=True))
    with op.batch_alter_table("training_runs") as batch:
        batch.add_column(sa.Column("progress", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("training_runs") as batch:
        batch.drop_column("progress")
    with op.batch_alter_table("cell_reviews") as batch:
        batch.drop_column("undoes")
        batch.drop_column("batch")
