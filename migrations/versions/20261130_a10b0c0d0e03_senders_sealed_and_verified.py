"""senders sealed and verified mobile senders (issue 10)

Revision ID: a10b0c0d0e03
Revises: a10b0c0d0e02
Create Date: 2026-11-30 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
import sqlmodel.sql.sqltypes  # noqa: F401  (autogenerate writes sqlmodel types)
from alembic import op  # noqa: F401

import govsms.db  # noqa: F401  (custom column types)


revision: str = 'a10b0c0d0e03'
down_revision: str | None = 'a10b0c0d0e02'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Verified sender numbers; a dispatch's mobile-number sender sealed (``sender`` NULL).

    Data: a migration holds no keys, so it can neither seal the mobile-number senders already
    stored in clear nor re-key the request fingerprints. The fingerprints only serve retries of
    the same Idempotency-Key within a short time, so they are dropped here (a retry of such a
    dispatch still finds it by its key and is answered without a check). The clear senders are
    sealed by the data step that ``govsms db upgrade`` (and ``init``/``demo``) runs after the
    migrations, with the keys (``govsms.sending.sender_numbers.seal_clear_senders``); until it
    has run, the worker still sends such rows as before."""
    op.create_table('sender_number',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('blind_index', sa.LargeBinary(length=16), nullable=False),
    sa.Column('number_ct', sa.LargeBinary(), nullable=False),
    sa.Column('verified_at', govsms.db.UTCDateTime(), nullable=True),
    sa.Column('code_hash', sa.LargeBinary(length=32), nullable=True),
    sa.Column('code_expires_at', govsms.db.UTCDateTime(), nullable=True),
    sa.Column('code_attempts', sa.Integer(), nullable=False),
    sa.Column('codes_sent', sa.Integer(), nullable=False),
    sa.Column('window_started_at', govsms.db.UTCDateTime(), nullable=True),
    sa.Column('code_sent_at', govsms.db.UTCDateTime(), nullable=True),
    sa.Column('created_at', govsms.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_sender_number_account_id_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sender_number')),
    sa.UniqueConstraint('account_id', 'blind_index', name=op.f('uq_sender_number_account_id'))
    )
    with op.batch_alter_table('dispatch', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sender_subject_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('sender_ct', sa.LargeBinary(), nullable=True))
        batch_op.alter_column('sender', existing_type=sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True)
    with op.batch_alter_table('outbound_message', schema=None) as batch_op:
        batch_op.alter_column('sender', existing_type=sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True)
    op.execute("UPDATE dispatch SET request_hash = NULL WHERE request_hash IS NOT NULL")


def downgrade() -> None:
    """Sealed senders cannot be opened without keys: a downgrade refuses while there are any."""
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT count(*) FROM dispatch WHERE sender IS NULL")).scalar_one():
        raise RuntimeError("dispatches with sealed mobile-number senders exist; they cannot be put back in clear by a migration")
    with op.batch_alter_table('outbound_message', schema=None) as batch_op:
        batch_op.alter_column('sender', existing_type=sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False)
    with op.batch_alter_table('dispatch', schema=None) as batch_op:
        batch_op.alter_column('sender', existing_type=sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False)
        batch_op.drop_column('sender_ct')
        batch_op.drop_column('sender_subject_id')
    op.drop_table('sender_number')
