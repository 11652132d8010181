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


# Plain ALTER TABLE, not batch mode: SQLite adds (3.2) and drops (3.35) a column in place, while a
# batch copy of app_user fails on a database whose login sessions and keys point at its rows.


def upgrade() -> None:
    op.add_column('app_user', sa.Column('must_change_password', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    op.drop_column('app_user', 'must_change_password')
