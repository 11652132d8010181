"""outbound_message without foreign keys

Revision ID: 826a8b235c82
Revises: 5418e297fe44
Create Date: 2026-11-27 03:21:40.391453
"""

from collections.abc import Sequence

import sqlmodel.sql.sqltypes  # noqa: F401  (autogenerate writes sqlmodel types)
from alembic import op

import govsms.db  # noqa: F401  (custom column types)


revision: str = '826a8b235c82'
down_revision: str | None = '5418e297fe44'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('outbound_message', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_outbound_message_account_id_account'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_outbound_message_dispatch_id_dispatch'), type_='foreignkey')



def downgrade() -> None:
    with op.batch_alter_table('outbound_message', schema=None) as batch_op:
        batch_op.create_foreign_key(batch_op.f('fk_outbound_message_dispatch_id_dispatch'), 'dispatch', ['dispatch_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_outbound_message_account_id_account'), 'account', ['account_id'], ['id'])

