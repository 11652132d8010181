"""contacts, groups, import uploads

Revision ID: 7037b4499d95
Revises: 1feb73453a25
Create Date: 2026-11-27 00:38:12.868936
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # noqa: F401  (autogenerate writes sqlmodel types)
from alembic import op

import govsms.db  # noqa: F401  (custom column types)


revision: str = '7037b4499d95'
down_revision: str | None = '1feb73453a25'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table('contact',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('number_ct', sa.LargeBinary(), nullable=False),
    sa.Column('name_ct', sa.LargeBinary(), nullable=True),
    sa.Column('note_ct', sa.LargeBinary(), nullable=True),
    sa.Column('created_at', govsms.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', govsms.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_contact_account_id_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contact')),
    sa.UniqueConstraint('account_id', 'subject_id', name=op.f('uq_contact_account_id'))
    )
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contact_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_contact_subject_id'), ['subject_id'], unique=False)

    op.create_table('contact_group',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('description', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('created_at', govsms.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_contact_group_account_id_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contact_group')),
    sa.UniqueConstraint('account_id', 'name', name=op.f('uq_contact_group_account_id'))
    )
    with op.batch_alter_table('contact_group', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contact_group_account_id'), ['account_id'], unique=False)

    op.create_table('import_upload',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('filename_ct', sa.LargeBinary(), nullable=False),
    sa.Column('content_ct', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', govsms.db.UTCDateTime(), nullable=False),
    sa.Column('expires_at', govsms.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_import_upload_account_id_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_upload'))
    )
    with op.batch_alter_table('import_upload', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_import_upload_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_import_upload_expires_at'), ['expires_at'], unique=False)

    op.create_table('group_member',
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('added_at', govsms.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contact.id'], name=op.f('fk_group_member_contact_id_contact'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['group_id'], ['contact_group.id'], name=op.f('fk_group_member_group_id_contact_group'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('group_id', 'contact_id', name=op.f('pk_group_member'))
    )
    with op.batch_alter_table('group_member', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_group_member_contact_id'), ['contact_id'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('group_member', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_group_member_contact_id'))

    op.drop_table('group_member')
    with op.batch_alter_table('import_upload', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_import_upload_expires_at'))
        batch_op.drop_index(batch_op.f('ix_import_upload_account_id'))

    op.drop_table('import_upload')
    with op.batch_alter_table('contact_group', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contact_group_account_id'))

    op.drop_table('contact_group')
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contact_subject_id'))
        batch_op.drop_index(batch_op.f('ix_contact_account_id'))

    op.drop_table('contact')

