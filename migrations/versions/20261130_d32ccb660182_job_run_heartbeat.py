"""job_run.heartbeat_at: a running job renews its lease at each step; it is taken over only when
the heartbeat is older than the lease timeout

Revision ID: d32ccb660182
Revises: c4e1a9d27b53
Create Date: 2026-11-30 13:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import govsms.db


revision: str = 'd32ccb660182'
down_revision: str | None = 'c4e1a9d27b53'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('job_run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('heartbeat_at', govsms.db.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('job_run', schema=None) as batch_op:
        batch_op.drop_column('heartbeat_at')
