"""app_user.removed_at: an admin removed the user, which starts the user's storage time (issue 12)

Revision ID: c4e1a9d27b53
Revises: c4a1e9d27b30
Create Date: 2026-11-30 13:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import govsms.db


revision: str = 'c4e1a9d27b53'
down_revision: str | None = 'c4a1e9d27b30'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('removed_at', govsms.db.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.drop_column('removed_at')
