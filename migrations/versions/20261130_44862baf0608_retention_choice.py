"""each account's own storage times (issue 12 item 2)

An account's admin or DPO may choose a storage time per data category shorter than the
provider's maximum (``retention_limit``); the time in force is the choice capped by the maximum.

Revision ID: 44862baf0608
Revises: a10b0c0d0e05
Create Date: 2026-11-30 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # noqa: F401  (autogenerate writes sqlmodel types)
from alembic import op

import govsms.db  # noqa: F401  (custom column types)


revision: str = '44862baf0608'
down_revision: str | None = 'a10b0c0d0e05'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('retention_choice',
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('category', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('days', sa.Integer(), nullable=False),
    sa.Column('updated_by', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('updated_at', govsms.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_retention_choice_account_id_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_retention_choice')),
    sa.UniqueConstraint('account_id', 'category', name=op.f('uq_retention_choice_account_id'))
    )
    with op.batch_alter_table('retention_choice', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_retention_choice_account_id'), ['account_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('retention_choice', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_retention_choice_account_id'))

    op.drop_table('retention_choice')
