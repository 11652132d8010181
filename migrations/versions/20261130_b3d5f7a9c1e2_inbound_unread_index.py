"""inbound_message: index on (account_id, read_at) for the inbox's unread count (issue 14)

Every page's navigation shows the account's unread SMS ("Inkorg (3)"): one range of this index.

Revision ID: b3d5f7a9c1e2
Revises: a7f3c9e1d5b2
Create Date: 2026-11-30 15:30:00
"""

from collections.abc import Sequence

from alembic import op


revision: str = 'b3d5f7a9c1e2'
down_revision: str | None = 'a7f3c9e1d5b2'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('inbound_message', schema=None) as batch_op:
        batch_op.create_index('ix_inbound_message_account_unread', ['account_id', 'read_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('inbound_message', schema=None) as batch_op:
        batch_op.drop_index('ix_inbound_message_account_unread')
