"""statistics_progress.rolled_through and waiting_days: a day with a message still waiting (one
scheduled far ahead) no longer holds back the purge of the account's later days (issue 12)

Revision ID: 7d3e5b1a9c42
Revises: d32ccb660182
Create Date: 2026-11-30 13:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '7d3e5b1a9c42'
down_revision: str | None = 'd32ccb660182'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('statistics_progress', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rolled_through', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('waiting_days', sa.String(), server_default='', nullable=False))
    # Every day up to complete_through was rolled up after it ended and waits for nothing.
    op.execute('UPDATE statistics_progress SET rolled_through = complete_through')


def downgrade() -> None:
    with op.batch_alter_table('statistics_progress', schema=None) as batch_op:
        batch_op.drop_column('waiting_days')
        batch_op.drop_column('rolled_through')
