"""sending: prices, virtual numbers, blocklist, dispatches, messages

Revision ID: aacae5f42e7c
Revises: 7037b4499d95
Create Date: 2026-11-27 01:11:43.569650
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # noqa: F401  (autogenerate writes sqlmodel types)
from alembic import op

import govsms.db  # noqa: F401  (custom column types)


revision: str = 'aacae5f42e7c'
down_revision: str | None = '7037b4499d95'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table('message_part',
    sa.Column('provider_id', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.PrimaryKeyConstraint('provider_id', name=op.f('pk_message_part'))
    )
    with op.batch_alter_table('message_part', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_message_part_message_id'), ['message_id'], unique=False)

    op.create_table('price',
    sa.Column('country', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
    sa.Column('per_part_minor', sa.Integer(), nullable=False),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('updated_at', govsms.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('country', name=op.f('pk_price'))
    )
    op.create_table('block_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('blind_index', sa.LargeBinary(length=16), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('created_at', govsms.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_block_entry_account_id_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_block_entry')),
    sa.UniqueConstraint('account_id', 'blind_index', name=op.f('uq_block_entry_account_id'))
    )
    with op.batch_alter_table('block_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_block_entry_account_id'), ['account_id'], unique=False)

    op.create_table('dispatch',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('sender', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('text_ct', sa.LargeBinary(), nullable=False),
    sa.Column('encoding', sqlmodel.sql.sqltypes.AutoString(length=5), nullable=False),
    sa.Column('parts', sa.Integer(), nullable=False),
    sa.Column('accepted', sa.Integer(), nullable=False),
    sa.Column('blocked', sa.Integer(), nullable=False),
    sa.Column('invalid', sa.Integer(), nullable=False),
    sa.Column('cost_minor', sa.Integer(), nullable=False),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('send_at', govsms.db.UTCDateTime(), nullable=False),
    sa.Column('idempotency_key', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('request_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('created_at', govsms.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_dispatch_account_id_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dispatch')),
    sa.UniqueConstraint('account_id', 'idempotency_key', name=op.f('uq_dispatch_account_id'))
    )
    with op.batch_alter_table('dispatch', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dispatch_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_dispatch_status'), ['status'], unique=False)

    op.create_table('virtual_number',
    sa.Column('number', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('created_at', govsms.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_virtual_number_account_id_account')),
    sa.PrimaryKeyConstraint('number', name=op.f('pk_virtual_number'))
    )
    with op.batch_alter_table('virtual_number', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_virtual_number_account_id'), ['account_id'], unique=False)

    op.create_table('outbound_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dispatch_id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('recipient_ct', sa.LargeBinary(), nullable=False),
    sa.Column('sender', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('sender_kind', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('country', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
    sa.Column('parts', sa.Integer(), nullable=False),
    sa.Column('cost_minor', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('optout_token', sa.String(length=16), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('due_at', govsms.db.UTCDateTime(), nullable=False),
    sa.Column('claimed_by', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('claim_expires_at', govsms.db.UTCDateTime(), nullable=True),
    sa.Column('submitted_at', govsms.db.UTCDateTime(), nullable=True),
    sa.Column('done_at', govsms.db.UTCDateTime(), nullable=True),
    sa.Column('created_at', govsms.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_outbound_message_account_id_account')),
    sa.ForeignKeyConstraint(['dispatch_id'], ['dispatch.id'], name=op.f('fk_outbound_message_dispatch_id_dispatch')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbound_message')),
    sa.UniqueConstraint('optout_token', name=op.f('uq_outbound_message_optout_token'))
    )
    with op.batch_alter_table('outbound_message', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbound_message_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbound_message_dispatch_id'), ['dispatch_id'], unique=False)
        batch_op.create_index('ix_outbound_message_due', ['status', 'due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbound_message_subject_id'), ['subject_id'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('outbound_message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbound_message_subject_id'))
        batch_op.drop_index('ix_outbound_message_due')
        batch_op.drop_index(batch_op.f('ix_outbound_message_dispatch_id'))
        batch_op.drop_index(batch_op.f('ix_outbound_message_account_id'))

    op.drop_table('outbound_message')
    with op.batch_alter_table('virtual_number', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_virtual_number_account_id'))

    op.drop_table('virtual_number')
    with op.batch_alter_table('dispatch', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dispatch_status'))
        batch_op.drop_index(batch_op.f('ix_dispatch_account_id'))

    op.drop_table('dispatch')
    with op.batch_alter_table('block_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_block_entry_account_id'))

    op.drop_table('block_entry')
    op.drop_table('price')
    with op.batch_alter_table('message_part', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_message_part_message_id'))

    op.drop_table('message_part')

