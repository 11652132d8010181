"""subprocessor.effective_at (issue 15): a new sub-processor takes effect only after the notice
the DPA promises (clause 6.2: 30 days); entries already registered took effect when added

Revision ID: a5c8e2f7d913
Revises: f14d2a9c0b31
Create Date: 2026-11-30 17:25:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import govsms.db


revision: str = 'a5c8e2f7d913'
down_revision: str | None = 'f14d2a9c0b31'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('subprocessor', schema=None) as batch_op:
        batch_op.add_column(sa.Column('effective_at', govsms.db.UTCDateTime(), nullable=True))
    op.execute("UPDATE subprocessor SET effective_at = added_at")
    with op.batch_alter_table('subprocessor', schema=None) as batch_op:
        batch_op.alter_column('effective_at', existing_type=govsms.db.UTCDateTime(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('subprocessor', schema=None) as batch_op:
        batch_op.drop_column('effective_at')
