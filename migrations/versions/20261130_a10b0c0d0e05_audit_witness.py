"""audit log anchor and witness (issue 10)

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
    pass


def downgrade() -> None:
    pass
