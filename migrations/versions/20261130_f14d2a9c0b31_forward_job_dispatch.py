"""forward_job.dispatch_id (issue 14 review): a mobile forward's dispatch, so erasure and the
retention purge of its SMS reach the forwarded copy, and an answer to a forward is known

Revision ID: f14d2a9c0b31
Revises: 5e8ee2403583
Create Date: 2026-11-30 15:55:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = 'f14d2a9c0b31'
down_revision: str | None = '5e8ee2403583'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('forward_job', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dispatch_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_forward_job_dispatch_id'), ['dispatch_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('forward_job', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_forward_job_dispatch_id'))
        batch_op.drop_column('dispatch_id')
