"""job_run: the lease and report of jobs that run once across workers (issue 12 item 5)

Revision ID: 2e01a19d407d
Revises: 3fbb86bb19b2
Create Date: 2026-11-30 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import govsms.db


revision: str = '2e01a19d407d'
down_revision: str | None = '3fbb86bb19b2'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'job_run',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('job', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column('period', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column('holder', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column('started_at', govsms.db.UTCDateTime(), nullable=False),
        sa.Column('finished_at', govsms.db.UTCDateTime(), nullable=True),
        sa.Column('report', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('job', 'period'),
    )


def downgrade() -> None:
    op.drop_table('job_run')
