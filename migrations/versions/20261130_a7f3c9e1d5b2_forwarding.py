"""forwarding_rule and forward_job (issue 14: forwarding of inbound SMS to e-mail and mobile)

Revision ID: a7f3c9e1d5b2
Revises: bf9e6a9db5b5
Create Date: 2026-11-30 15:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import govsms.db


revision: str = 'a7f3c9e1d5b2'
down_revision: str | None = 'bf9e6a9db5b5'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('forwarding_rule',
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('trigger', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('trigger_number', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('trigger_keyword', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('email_ct', sa.LargeBinary(), nullable=True),
    sa.Column('mode', sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
    sa.Column('mobile_subject_id', sa.Integer(), nullable=True),
    sa.Column('mobile_ct', sa.LargeBinary(), nullable=True),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('created_at', govsms.db.UTCDateTime(), nullable=False),
    sa.Column('last_error', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('last_error_at', govsms.db.UTCDateTime(), nullable=True),
    sa.Column('last_sent_at', govsms.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('forwarding_rule', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_forwarding_rule_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_forwarding_rule_mobile_subject_id'), ['mobile_subject_id'], unique=False)

    op.create_table('forward_job',
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rule_id', sa.Integer(), nullable=False),
    sa.Column('inbound_message_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=5), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_at', govsms.db.UTCDateTime(), nullable=False),
    sa.Column('last_error', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('done_at', govsms.db.UTCDateTime(), nullable=True),
    sa.Column('created_at', govsms.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('forward_job', schema=None) as batch_op:
        batch_op.create_index('ix_forward_job_due', ['status', 'next_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_forward_job_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_forward_job_inbound_message_id'), ['inbound_message_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_forward_job_rule_id'), ['rule_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('forward_job', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_forward_job_rule_id'))
        batch_op.drop_index(batch_op.f('ix_forward_job_inbound_message_id'))
        batch_op.drop_index(batch_op.f('ix_forward_job_account_id'))
        batch_op.drop_index('ix_forward_job_due')
    op.drop_table('forward_job')
    with op.batch_alter_table('forwarding_rule', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_forwarding_rule_mobile_subject_id'))
        batch_op.drop_index(batch_op.f('ix_forwarding_rule_account_id'))
    op.drop_table('forwarding_rule')
