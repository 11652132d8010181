"""inbound_fragment.joined_at (issue 14): a joined part stays a few minutes as a tombstone, so a
part the SMSC sends again after its SMS was joined is known

Revision ID: 5e8ee2403583
Revises: b3d5f7a9c1e2
Create Date: 2026-11-30 15:31:23.031907
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # noqa: F401  (autogenerate writes sqlmodel types)
from alembic import op

import govsms.db  # noqa: F401  (custom column types)


revision: str = '5e8ee2403583'
down_revision: str | None = 'b3d5f7a9c1e2'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('inbound_fragment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('joined_at', govsms.db.UTCDateTime(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('inbound_fragment', schema=None) as batch_op:
        batch_op.drop_column('joined_at')

