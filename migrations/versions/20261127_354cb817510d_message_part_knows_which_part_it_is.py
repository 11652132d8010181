"""message_part knows which part it is

Revision ID: 354cb817510d
Revises: b2a4c7f3419a
Create Date: 2026-11-27 03:59:32.497910
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # noqa: F401  (autogenerate writes sqlmodel types)
from alembic import op

import govsms.db  # noqa: F401  (custom column types)


revision: str = '354cb817510d'
down_revision: str | None = 'b2a4c7f3419a'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('message_part', schema=None) as batch_op:
        batch_op.add_column(sa.Column('part', sa.Integer(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('message_part', schema=None) as batch_op:
        batch_op.drop_column('part')

