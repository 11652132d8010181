"""subject_shred: the shred log of destroyed subject keys, read by every process before it uses a
cached key, and the floor of new subject ids on SQLite (issue 13)

Revision ID: e5a1b2c3d4f6
Revises: e7a3c5d1b2f4
Create Date: 2026-11-30 14:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import govsms.db


revision: str = 'e5a1b2c3d4f6'
down_revision: str | None = 'e7a3c5d1b2f4'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'subject_shred',
        sa.Column('seq', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('subject_id', sa.Integer(), nullable=False),
        sa.Column('shredded_at', govsms.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('seq'),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f('ix_subject_shred_subject_id'), 'subject_shred', ['subject_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_subject_shred_subject_id'), table_name='subject_shred')
    op.drop_table('subject_shred')
