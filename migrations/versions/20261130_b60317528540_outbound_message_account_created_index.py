"""outbound_message indexed by (account_id, created_at) (issue 12)

The statistics' roll-up, a day's messages and the purge read an account's messages by time; the
index on account_id alone only found the account's rows. The new index serves a lookup by account
alone as well, so it replaces that one (one index less to write per message).

Revision ID: b60317528540
Revises: 4fed4b918e81
Create Date: 2026-11-30 12:40:00
"""

from collections.abc import Sequence

from alembic import op


revision: str = 'b60317528540'
down_revision: str | None = '4fed4b918e81'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('outbound_message', schema=None) as batch_op:
        batch_op.create_index('ix_outbound_message_account_created', ['account_id', 'created_at'], unique=False)
        batch_op.drop_index(batch_op.f('ix_outbound_message_account_id'))


def downgrade() -> None:
    with op.batch_alter_table('outbound_message', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbound_message_account_id'), ['account_id'], unique=False)
        batch_op.drop_index('ix_outbound_message_account_created')
