"""outbound_message indexed by (dispatch_id, status) (issue 15, the history's state filter)

The sent history filters dispatches by state: whether a dispatch has a message in some status. On
the index on dispatch_id alone that reads every message of each dispatch (1,000,000 for an
account's 2,000 dispatches of 500); on (dispatch_id, status) it is one probe per dispatch. The
new index serves a lookup by dispatch alone as well, so it replaces that one.

Revision ID: c4e8a2f61d07
Revises: b3d9f1e6a2c4
Create Date: 2026-11-30 18:35:00
"""

from collections.abc import Sequence

from alembic import op


revision: str = 'c4e8a2f61d07'
down_revision: str | None = 'b3d9f1e6a2c4'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_outbound_message_dispatch_status', 'outbound_message', ['dispatch_id', 'status'], unique=False)
    op.drop_index('ix_outbound_message_dispatch_id', table_name='outbound_message')


def downgrade() -> None:
    op.create_index('ix_outbound_message_dispatch_id', 'outbound_message', ['dispatch_id'], unique=False)
    op.drop_index('ix_outbound_message_dispatch_status', table_name='outbound_message')
