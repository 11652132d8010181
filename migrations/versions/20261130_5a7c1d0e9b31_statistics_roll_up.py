"""statistics roll-up (issue 12 item 4)

Per account, day (its time zone), country, sender kind and status: counts and cost, no
numbers or texts; and how far each account is rolled up, so a purge never deletes a day that
is not.

Revision ID: 5a7c1d0e9b31
Revises: 44862baf0608
Create Date: 2026-11-30 11:54:52.758534
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # noqa: F401  (autogenerate writes sqlmodel types)
from alembic import op

import govsms.db  # noqa: F401  (custom column types)


revision: str = '5a7c1d0e9b31'
down_revision: str | None = '44862baf0608'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('statistics_day',
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('country', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
    sa.Column('sender_kind', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('messages', sa.Integer(), nullable=False),
    sa.Column('parts', sa.Integer(), nullable=False),
    sa.Column('cost_minor', sa.Integer(), nullable=False),
    sa.Column('delivered', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('blocked', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_statistics_day_account_id_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_statistics_day')),
    sa.UniqueConstraint('account_id', 'day', 'country', 'sender_kind', 'status', name=op.f('uq_statistics_day_account_id'))
    )
    with op.batch_alter_table('statistics_day', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_statistics_day_account_id'), ['account_id'], unique=False)

    op.create_table('statistics_progress',
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('complete_through', sa.Date(), nullable=True),
    sa.Column('checked_at', govsms.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_statistics_progress_account_id_account')),
    sa.PrimaryKeyConstraint('account_id', name=op.f('pk_statistics_progress'))
    )


def downgrade() -> None:
    op.drop_table('statistics_progress')
    with op.batch_alter_table('statistics_day', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_statistics_day_account_id'))

    op.drop_table('statistics_day')
