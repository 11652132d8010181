"""audit anchor: where the access log starts after pruning (issue 12 item 3)

Pruning deletes the oldest sealed segments of the access log; the anchor (seq, chain hash,
signed with the audit key) is what the rest chains from, so ``govsms audit verify`` still passes.

Revision ID: 3fbb86bb19b2
Revises: 5a7c1d0e9b31
Create Date: 2026-11-30 12:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # noqa: F401  (autogenerate writes sqlmodel types)
from alembic import op

import govsms.db  # noqa: F401  (custom column types)


revision: str = '3fbb86bb19b2'
down_revision: str | None = '5a7c1d0e9b31'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('audit_anchor',
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('head_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('signed_at', govsms.db.UTCDateTime(), nullable=False),
    sa.Column('public_key', sa.LargeBinary(length=32), nullable=False),
    sa.Column('signature', sa.LargeBinary(length=64), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('seq')
    )


def downgrade() -> None:
    op.drop_table('audit_anchor')
