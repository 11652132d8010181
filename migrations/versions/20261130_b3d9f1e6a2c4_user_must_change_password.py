"""app_user.must_change_password (issue 15 item 9): after an administrator's reset to a one-time
password, the next login reaches nothing but the change of password

Revision ID: b3d9f1e6a2c4
Revises: a5c8e2f7d913
Create Date: 2026-11-30 17:35:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = 'b3d9f1e6a2c4'
down_revision: str | None = 'a5c8e2f7d913'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('must_change_password', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.drop_column('must_change_password')
