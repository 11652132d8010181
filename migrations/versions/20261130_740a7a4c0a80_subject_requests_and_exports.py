"""subject requests and exports (issue 13)

The register of data-subject requests (reference, kind, dates, status, links, sealed notes) and
the access exports kept sealed for download for 30 days.

Revision ID: 740a7a4c0a80
Revises: e5a1b2c3d4f6
Create Date: 2026-11-30 14:05:40.978571
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # noqa: F401  (autogenerate writes sqlmodel types)
from alembic import op

import govsms.db  # noqa: F401  (custom column types)


revision: str = '740a7a4c0a80'
down_revision: str | None = 'e5a1b2c3d4f6'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('subject_request',
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reference', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('received_on', sa.Date(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('extended_until', sa.Date(), nullable=True),
    sa.Column('extension_reason', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('subject_id', sa.Integer(), nullable=True),
    sa.Column('export_id', sqlmodel.sql.sqltypes.AutoString(length=43), nullable=True),
    sa.Column('erasure_id', sa.Integer(), nullable=True),
    sa.Column('notes_ct', sa.LargeBinary(), nullable=True),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('created_at', govsms.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', govsms.db.UTCDateTime(), nullable=False),
    sa.Column('closed_at', govsms.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_subject_request_account_id_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subject_request')),
    sa.UniqueConstraint('account_id', 'reference', name=op.f('uq_subject_request_account_id'))
    )
    with op.batch_alter_table('subject_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subject_request_account_id'), ['account_id'], unique=False)
        batch_op.create_index('ix_subject_request_account_status_due', ['account_id', 'status', 'due_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_subject_request_subject_id'), ['subject_id'], unique=False)

    op.create_table('subject_export',
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=43), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=True),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('content_ct', sa.LargeBinary(), nullable=False),
    sa.Column('language', sqlmodel.sql.sqltypes.AutoString(length=5), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('created_at', govsms.db.UTCDateTime(), nullable=False),
    sa.Column('expires_at', govsms.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_subject_export_account_id_account')),
    sa.ForeignKeyConstraint(['request_id'], ['subject_request.id'], name=op.f('fk_subject_export_request_id_subject_request')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subject_export'))
    )
    with op.batch_alter_table('subject_export', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subject_export_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_subject_export_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_subject_export_request_id'), ['request_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_subject_export_subject_id'), ['subject_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('subject_export', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subject_export_subject_id'))
        batch_op.drop_index(batch_op.f('ix_subject_export_request_id'))
        batch_op.drop_index(batch_op.f('ix_subject_export_expires_at'))
        batch_op.drop_index(batch_op.f('ix_subject_export_account_id'))

    op.drop_table('subject_export')
    with op.batch_alter_table('subject_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subject_request_subject_id'))
        batch_op.drop_index('ix_subject_request_account_status_due')
        batch_op.drop_index(batch_op.f('ix_subject_request_account_id'))

    op.drop_table('subject_request')
