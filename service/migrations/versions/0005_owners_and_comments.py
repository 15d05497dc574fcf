"""documents: one per submitter and content (owner_token_id); cell_reviews: the reviewer's comment

Dedupe no longer crosses ownership (issue 18): the same bytes from another submitter make a document
of its own (the stored original is still shared by its sha256), so `documents.sha256` is unique per
owner, not overall. An existing document's owner is its first uploader.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# names for the constraints 0001 left unnamed (SQLite: the batch copy finds them by these names)
NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _old_unique_name() -> str:
    if op.get_bind().dialect.name == "postgresql":
        return "documents_sha256_key"  # PostgreSQL's name for an unnamed UNIQUE (sha256)
    return "uq_documents_sha256"


def upgrade() -> None:
    with op.batch_alter_table("cell_reviews") as batch:
        batch.add_column(sa.Column("comment", sa.Text(), nullable=True))
    with op.batch_alter_table("documents", naming_convention=NAMING) as batch:
        batch.add_column(sa.Column("owner_token_id", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE documents SET owner_token_id = "
        "(SELECT u.token_id FROM uploads u WHERE u.document_id = documents.id ORDER BY u.id LIMIT 1)"
    )
    # SQLite: the batch copy drops and re-creates `documents`, which other tables reference; service.migrate
    # runs migrations with foreign keys off and checks them all afterwards
    with op.batch_alter_table("documents", naming_convention=NAMING) as batch:
        batch.drop_constraint(_old_unique_name(), type_="unique")
        batch.create_unique_constraint("uq_documents_sha256_owner", ["sha256", "owner_token_id"])
        batch.create_foreign_key("fk_documents_owner_token_id", "tokens", ["owner_token_id"], ["id"])
        batch.create_index("ix_documents_sha256", ["sha256"])


def downgrade() -> None:
    with op.batch_alter_table("documents", naming_convention=NAMING) as batch:
        batch.drop_index("ix_documents_sha256")
        batch.drop_constraint("fk_documents_owner_token_id", type_="foreignkey")
        batch.drop_constraint("uq_documents_sha256_owner", type_="unique")
        batch.create_unique_constraint(_old_unique_name(), ["sha256"])  # fails while two owners share bytes
        batch.drop_column("owner_token_id")
    with op.batch_alter_table("cell_reviews") as batch:
        batch.drop_column("comment")
