"""passwords and TOTP for staff (issue 10)

Revision ID: a10b0c0d0e02
Revises: a10b0c0d0e01
Create Date: 2026-11-30 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
import sqlmodel.sql.sqltypes  # noqa: F401  (autogenerate writes sqlmodel types)
from alembic import op  # noqa: F401

import govsms.db  # noqa: F401  (custom column types)


revision: str = 'a10b0c0d0e02'
down_revision: str | None = 'a10b0c0d0e01'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('totp_secret_ct', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('totp_enabled_at', govsms.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('totp_last_step', sa.Integer(), nullable=True))

    with op.batch_alter_table('login_session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stage', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False, server_default=''))

    op.create_table('recovery_code',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', govsms.db.UTCDateTime(), nullable=False),
    sa.Column('used_at', govsms.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_recovery_code_user_id_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recovery_code'))
    )
    with op.batch_alter_table('recovery_code', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recovery_code_user_id'), ['user_id'], unique=False)

    op.create_table('role_policy',
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('totp_required', sa.Boolean(), nullable=False),
    sa.Column('changed_at', govsms.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('role', name=op.f('pk_role_policy'))
    )


def downgrade() -> None:
    op.drop_table('role_policy')
    with op.batch_alter_table('recovery_code', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recovery_code_user_id'))
    op.drop_table('recovery_code')

    with op.batch_alter_table('login_session', schema=None) as batch_op:
        batch_op.drop_column('stage')

    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.drop_column('totp_last_step')
        batch_op.drop_column('totp_enabled_at')
        batch_op.drop_column('totp_secret_ct')
