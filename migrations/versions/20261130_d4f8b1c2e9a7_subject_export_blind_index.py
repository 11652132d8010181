"""subject_export.blind_index (issue 13)

An access export of a person the account held no key for names them by nothing but this: the
blind index of their number, so that their erasure finds and deletes it.

Revision ID: d4f8b1c2e9a7
Revises: c3e7a9d2b4f1
Create Date: 2026-11-30 14:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = 'd4f8b1c2e9a7'
down_revision: str | None = 'c3e7a9d2b4f1'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('subject_export', schema=None) as batch_op:
        batch_op.add_column(sa.Column('blind_index', sa.LargeBinary(length=16), nullable=True))
        batch_op.create_index('ix_subject_export_account_blind_index', ['account_id', 'blind_index'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('subject_export', schema=None) as batch_op:
        batch_op.drop_index('ix_subject_export_account_blind_index')
        batch_op.drop_column('blind_index')
