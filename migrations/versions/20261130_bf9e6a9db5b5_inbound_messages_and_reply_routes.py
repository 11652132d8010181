"""Receiving (issue 14): inbound_message, inbound_fragment, inbound_keyword, reply_route and
account.stop_confirmation_text

Revision ID: bf9e6a9db5b5
Revises: d4f8b1c2e9a7
Create Date: 2026-11-30 15:05:30.220433
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # noqa: F401  (autogenerate writes sqlmodel types)
from alembic import op

import govsms.db  # noqa: F401  (custom column types)


revision: str = 'bf9e6a9db5b5'
down_revision: str | None = 'd4f8b1c2e9a7'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('inbound_fragment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('transport', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('provider_ref', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('source_index', sa.LargeBinary(length=16), nullable=False),
    sa.Column('source_ct', sa.LargeBinary(), nullable=False),
    sa.Column('destination', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('reference', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('text_ct', sa.LargeBinary(), nullable=False),
    sa.Column('received_at', govsms.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbound_fragment')),
    sa.UniqueConstraint('source_index', 'destination', 'reference', 'total', 'sequence', name=op.f('uq_inbound_fragment_source_index')),
    sa.UniqueConstraint('transport', 'provider_ref', name=op.f('uq_inbound_fragment_transport'))
    )
    with op.batch_alter_table('inbound_fragment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inbound_fragment_received_at'), ['received_at'], unique=False)

    op.create_table('reply_route',
    sa.Column('number_index', sa.LargeBinary(length=16), nullable=False),
    sa.Column('shared_number', sa.String(length=16), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('sent_at', govsms.db.UTCDateTime(), nullable=False),
    sa.Column('expires_at', govsms.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('number_index', 'shared_number', name=op.f('pk_reply_route'))
    )
    with op.batch_alter_table('reply_route', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reply_route_expires_at'), ['expires_at'], unique=False)

    op.create_table('inbound_keyword',
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shared_number', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('keyword', sa.String(length=32), nullable=False),
    sa.Column('created_at', govsms.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_inbound_keyword_account_id_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbound_keyword')),
    sa.UniqueConstraint('shared_number', 'keyword', name=op.f('uq_inbound_keyword_shared_number'))
    )
    with op.batch_alter_table('inbound_keyword', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inbound_keyword_account_id'), ['account_id'], unique=False)

    op.create_table('inbound_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('number_ct', sa.LargeBinary(), nullable=False),
    sa.Column('text_ct', sa.LargeBinary(), nullable=False),
    sa.Column('destination', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('keyword', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('routed_by', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('reply_to_message_id', sa.Integer(), nullable=True),
    sa.Column('stop', sa.Boolean(), nullable=False),
    sa.Column('parts', sa.Integer(), nullable=False),
    sa.Column('transport', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('provider_ref', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('received_at', govsms.db.UTCDateTime(), nullable=False),
    sa.Column('read_at', govsms.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_inbound_message_account_id_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbound_message')),
    sa.UniqueConstraint('transport', 'provider_ref', name=op.f('uq_inbound_message_transport'))
    )
    with op.batch_alter_table('inbound_message', schema=None) as batch_op:
        batch_op.create_index('ix_inbound_message_account_received', ['account_id', 'received_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_inbound_message_subject_id'), ['subject_id'], unique=False)

    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stop_confirmation_text', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.drop_column('stop_confirmation_text')

    with op.batch_alter_table('inbound_message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inbound_message_subject_id'))
        batch_op.drop_index('ix_inbound_message_account_received')

    op.drop_table('inbound_message')
    with op.batch_alter_table('inbound_keyword', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inbound_keyword_account_id'))

    op.drop_table('inbound_keyword')
    with op.batch_alter_table('reply_route', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reply_route_expires_at'))

    op.drop_table('reply_route')
    with op.batch_alter_table('inbound_fragment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inbound_fragment_received_at'))

    op.drop_table('inbound_fragment')
