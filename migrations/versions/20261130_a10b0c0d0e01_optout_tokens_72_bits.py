"""opt-out tokens of 72 bits with an expiry (issue 10, web security)

No schema change is needed, so this revision changes nothing: a 12-character token fits
``outbound_message.optout_token`` (VARCHAR(16), unique, so a lookup uses its index), the
8-character tokens of messages sent before stay valid until they expire, and a link's expiry is
computed from what is stored already (the message's ``submitted_at``, else ``due_at``, and the
storage time of sent SMS in ``retention_limit``). Narrowing the column to 12 would copy the whole
message table on SQLite for no gain.

Revision ID: a10b0c0d0e01
Revises: 7d63db557155
Create Date: 2026-11-30 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
import sqlmodel.sql.sqltypes  # noqa: F401  (autogenerate writes sqlmodel types)
from alembic import op  # noqa: F401

import govsms.db  # noqa: F401  (custom column types)


revision: str = 'a10b0c0d0e01'
down_revision: str | None = '7d63db557155'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
