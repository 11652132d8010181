"""dispatch indexed by its mobile-number sender's subject (issue 13)

The data-subject search and erasure find the dispatches sent from a person's number by
``sender_subject_id``; without an index that read every dispatch of the account.

Revision ID: c3e7a9d2b4f1
Revises: b8d2f4a6c1e3
Create Date: 2026-11-30 14:15:00
"""

from collections.abc import Sequence

from alembic import op


revision: str = 'c3e7a9d2b4f1'
down_revision: str | None = 'b8d2f4a6c1e3'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('dispatch', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dispatch_sender_subject_id'), ['sender_subject_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('dispatch', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dispatch_sender_subject_id'))
