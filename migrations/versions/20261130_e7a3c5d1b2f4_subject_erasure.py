"""subject erasures (issue 13)

One row per erasure of a person's data: its progress (counts per table, resumable) and its
signed receipt.

Revision ID: e7a3c5d1b2f4
Revises: 7d3e5b1a9c42
Create Date: 2026-11-30 14:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # noqa: F401  (autogenerate writes sqlmodel types)
from alembic import op

import govsms.db  # noqa: F401  (custom column types)


revision: str = 'e7a3c5d1b2f4'
down_revision: str | None = '7d3e5b1a9c42'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('subject_erasure',
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=True),
    sa.Column('subject_id', sa.Integer(), nullable=True),
    sa.Column('blind_index', sa.LargeBinary(length=16), nullable=False),
    sa.Column('unblock', sa.Boolean(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('counts', sa.Text(), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('started_at', govsms.db.UTCDateTime(), nullable=False),
    sa.Column('finished_at', govsms.db.UTCDateTime(), nullable=True),
    sa.Column('receipt', sa.Text(), nullable=True),
    sa.Column('signature', sa.LargeBinary(length=64), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_subject_erasure_account_id_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subject_erasure'))
    )
    with op.batch_alter_table('subject_erasure', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subject_erasure_account_id'), ['account_id'], unique=False)
        batch_op.create_index('ix_subject_erasure_account_status', ['account_id', 'status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('subject_erasure', schema=None) as batch_op:
        batch_op.drop_index('ix_subject_erasure_account_status')
        batch_op.drop_index(batch_op.f('ix_subject_erasure_account_id'))

    op.drop_table('subject_erasure')
