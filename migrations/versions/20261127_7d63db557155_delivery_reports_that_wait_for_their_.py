"""delivery reports that wait for their part

Revision ID: 7d63db557155
Revises: 354cb817510d
Create Date: 2026-11-27 04:12:16.587833
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # noqa: F401  (autogenerate writes sqlmodel types)
from alembic import op

import govsms.db  # noqa: F401  (custom column types)


revision: str = '7d63db557155'
down_revision: str | None = '354cb817510d'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('pending_report',
    sa.Column('provider_id', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('received_at', govsms.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('provider_id', name=op.f('pk_pending_report'))
    )
    with op.batch_alter_table('pending_report', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pending_report_received_at'), ['received_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('pending_report', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pending_report_received_at'))

    op.drop_table('pending_report')
