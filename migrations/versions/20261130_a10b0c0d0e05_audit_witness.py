"""audit log anchor and witness (issue 10)

Every audit event carries a MAC made when it is written (``audit_event.mac``), so an event edited
before the sealer chains it is still found. Events written before this revision keep an empty MAC
and verify as before (chain format 1); the witness of signed checkpoints lives outside the
database (``GOVSMS_AUDIT_WITNESS``), so it needs no table.

Revision ID: a10b0c0d0e05
Revises: a10b0c0d0e04
Create Date: 2026-11-30 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
import sqlmodel.sql.sqltypes  # noqa: F401  (autogenerate writes sqlmodel types)
from alembic import op  # noqa: F401

import govsms.db  # noqa: F401  (custom column types)


revision: str = 'a10b0c0d0e05'
down_revision: str | None = 'a10b0c0d0e04'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mac', sa.LargeBinary(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_column('mac')
