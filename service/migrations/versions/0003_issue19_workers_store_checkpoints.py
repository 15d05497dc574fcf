"""operations: the model version a re-run asks for, the store id, the worker heartbeat table, page checkpoints of running extractions

Revision ID: 0003_issue19
Revises: 0002
Create Date: 2026-12-06 17:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_issue19"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("model_version", sa.String(length=100), nullable=True))
    op.create_table(
        "service_meta",
        sa.Column("key", sa.String(length=50), nullable=False),
        sa.Column("value", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "workers",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("host", sa.String(length=200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("threads", sa.Integer(), nullable=False),
        sa.Column("queue", sa.String(length=300), nullable=False),
        sa.Column("store", sa.String(length=500), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.Column("stopped_at", sa.DateTime(), nullable=True),
        sa.Column("current_jobs", sa.JSON(), nullable=False),
        sa.Column("jobs_done", sa.Integer(), nullable=False),
        sa.Column("queue_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_workers_last_seen", "workers", ["last_seen"])
    op.create_table(
        "page_checkpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("page", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"]),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job_id", "page", "fingerprint"),
    )
    op.create_index("ix_page_checkpoints_job_id", "page_checkpoints", ["job_id"])


def downgrade() -> None:
    op.drop_index("ix_page_checkpoints_job_id", table_name="page_checkpoints")
    op.drop_table("page_checkpoints")
    op.drop_index("ix_workers_last_seen", table_name="workers")
    op.drop_table("workers")
    op.drop_table("service_meta")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("model_version")
