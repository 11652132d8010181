"""accounts, users, login sessions, api keys

Revision ID: 2921e4a7ece6
Revises:
Create Date: 2026-11-27 00:21:03.670577
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # noqa: F401  (autogenerate writes sqlmodel types)
from alembic import op

import govsms.db  # noqa: F401  (custom column types)


revision: str = '2921e4a7ece6'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table('account',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('org_number', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('billing_address', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('billing_email', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True),
    sa.Column('billing_reference', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('admin_email', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True),
    sa.Column('ops_email', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True),
    sa.Column('is_provider', sa.Boolean(), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('default_region', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
    sa.Column('timezone', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', govsms.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_account')),
    sa.UniqueConstraint('name', name=op.f('uq_account_name'))
    )
    op.create_table('app_user',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('email', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
    sa.Column('display_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('password_hash', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('roles', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('language', sqlmodel.sql.sqltypes.AutoString(length=5), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('failed_logins', sa.Integer(), nullable=False),
    sa.Column('locked_until', govsms.db.UTCDateTime(), nullable=True),
    sa.Column('last_login_at', govsms.db.UTCDateTime(), nullable=True),
    sa.Column('password_changed_at', govsms.db.UTCDateTime(), nullable=False),
    sa.Column('created_at', govsms.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_app_user_account_id_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_app_user')),
    sa.UniqueConstraint('email', name=op.f('uq_app_user_email'))
    )
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_app_user_account_id'), ['account_id'], unique=False)

    op.create_table('api_key',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('prefix', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('key_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('roles', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('created_by_user_id', sa.Integer(), nullable=True),
    sa.Column('created_at', govsms.db.UTCDateTime(), nullable=False),
    sa.Column('last_used_at', govsms.db.UTCDateTime(), nullable=True),
    sa.Column('revoked_at', govsms.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_api_key_account_id_account')),
    sa.ForeignKeyConstraint(['created_by_user_id'], ['app_user.id'], name=op.f('fk_api_key_created_by_user_id_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_key')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_api_key_key_hash'))
    )
    with op.batch_alter_table('api_key', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_key_account_id'), ['account_id'], unique=False)

    op.create_table('login_session',
    sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', govsms.db.UTCDateTime(), nullable=False),
    sa.Column('last_seen_at', govsms.db.UTCDateTime(), nullable=False),
    sa.Column('expires_at', govsms.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_login_session_user_id_app_user')),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_login_session'))
    )
    with op.batch_alter_table('login_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_session_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_login_session_user_id'), ['user_id'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('login_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_session_user_id'))
        batch_op.drop_index(batch_op.f('ix_login_session_expires_at'))

    op.drop_table('login_session')
    with op.batch_alter_table('api_key', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_key_account_id'))

    op.drop_table('api_key')
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_app_user_account_id'))

    op.drop_table('app_user')
    op.drop_table('account')

