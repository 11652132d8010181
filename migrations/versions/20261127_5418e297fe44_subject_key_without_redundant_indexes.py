"""subject_key without redundant indexes

Revision ID: 5418e297fe44
Revises: aacae5f42e7c
Create Date: 2026-11-27 01:37:26.646599
"""

from collections.abc import Sequence

import sqlmodel.sql.sqltypes  # noqa: F401  (autogenerate writes sqlmodel types)
from alembic import op

import govsms.db  # noqa: F401  (custom column types)


revision: str = '5418e297fe44'
down_revision: str | None = 'aacae5f42e7c'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    with op.batch_alter_table('subject_key', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subject_key_account_id'))
        batch_op.drop_index(batch_op.f('ix_subject_key_kek_id'))




def downgrade() -> None:

    with op.batch_alter_table('subject_key', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subject_key_kek_id'), ['kek_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_subject_key_account_id'), ['account_id'], unique=False)


