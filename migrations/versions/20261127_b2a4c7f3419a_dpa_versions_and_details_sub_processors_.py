"""DPA versions and details, sub-processors, storage-time limits

Revision ID: b2a4c7f3419a
Revises: 826a8b235c82
Create Date: 2026-11-27 03:27:24.056017
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # noqa: F401  (autogenerate writes sqlmodel types)
from alembic import op

import govsms.db  # noqa: F401  (custom column types)


revision: str = 'b2a4c7f3419a'
down_revision: str | None = '826a8b235c82'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('retention_limit',
    sa.Column('category', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('days', sa.Integer(), nullable=True),
    sa.Column('updated_by', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('updated_at', govsms.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('category', name=op.f('pk_retention_limit'))
    )
    op.create_table('subprocessor',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('org_number', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('country', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
    sa.Column('city', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('purpose', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('safeguard', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('added_at', govsms.db.UTCDateTime(), nullable=False),
    sa.Column('removed_at', govsms.db.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subprocessor'))
    )
    op.create_table('dpa_details',
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('details_ct', sa.LargeBinary(), nullable=False),
    sa.Column('updated_by', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('updated_at', govsms.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_dpa_details_account_id_account')),
    sa.PrimaryKeyConstraint('account_id', name=op.f('pk_dpa_details'))
    )
    op.create_table('dpa_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('language', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
    sa.Column('template_version', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('annexes', sa.Text(), nullable=False),
    sa.Column('annexes_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('details_ct', sa.LargeBinary(), nullable=False),
    sa.Column('content_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('pdf_ct', sa.LargeBinary(), nullable=False),
    sa.Column('pdf_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('created_at', govsms.db.UTCDateTime(), nullable=False),
    sa.Column('accepted_by', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('accepted_at', govsms.db.UTCDateTime(), nullable=True),
    sa.Column('acceptance_ct', sa.LargeBinary(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_dpa_version_account_id_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dpa_version')),
    sa.UniqueConstraint('account_id', 'number', name=op.f('uq_dpa_version_account_id'))
    )
    with op.batch_alter_table('dpa_version', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dpa_version_account_id'), ['account_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('dpa_version', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dpa_version_account_id'))

    op.drop_table('dpa_version')
    op.drop_table('dpa_details')
    op.drop_table('subprocessor')
    op.drop_table('retention_limit')
