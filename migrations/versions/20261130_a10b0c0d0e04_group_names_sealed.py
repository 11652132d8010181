"""group names sealed and other personal data out of clear columns (issue 10)

Revision ID: a10b0c0d0e04
Revises: a10b0c0d0e03
Create Date: 2026-11-30 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
import sqlmodel.sql.sqltypes  # noqa: F401  (autogenerate writes sqlmodel types)
from alembic import op  # noqa: F401

import govsms.db  # noqa: F401  (custom column types)


revision: str = 'a10b0c0d0e04'
down_revision: str | None = 'a10b0c0d0e03'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Group names and descriptions sealed: new columns for the sealed values and the keyed name
    index (unique per account in place of the clear name); the clear columns are renamed and
    kept nullable for the groups that already exist.

    Data: a migration holds no keys, so it cannot seal the names stored in clear. The data step
    that ``govsms db upgrade`` (and ``init``/``demo``) runs after the migrations seals them and
    empties the clear columns (``govsms.contacts.groups.seal_clear_groups``); a group read before
    that is sealed as it is read."""
    with op.batch_alter_table('contact_group', schema=None) as batch_op:
        batch_op.drop_constraint('uq_contact_group_account_id', type_='unique')
        batch_op.alter_column('name', new_column_name='clear_name', existing_type=sa.String(length=100), nullable=True)
        batch_op.alter_column(
            'description', new_column_name='clear_description', existing_type=sa.String(length=500), nullable=True
        )
        batch_op.add_column(sa.Column('name_index', sa.LargeBinary(length=16), nullable=True))
        batch_op.add_column(sa.Column('name_ct', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('description_ct', sa.LargeBinary(), nullable=True))
        batch_op.create_unique_constraint('uq_contact_group_account_id', ['account_id', 'name_index'])


def downgrade() -> None:
    """Sealed names cannot be opened without keys: a downgrade refuses while there are any."""
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT count(*) FROM contact_group WHERE name_ct IS NOT NULL")).scalar_one():
        raise RuntimeError("groups with sealed names exist; they cannot be put back in clear by a migration")
    with op.batch_alter_table('contact_group', schema=None) as batch_op:
        batch_op.drop_constraint('uq_contact_group_account_id', type_='unique')
        batch_op.drop_column('description_ct')
        batch_op.drop_column('name_ct')
        batch_op.drop_column('name_index')
        batch_op.alter_column(
            'clear_description', new_column_name='description', existing_type=sa.String(length=500), nullable=False
        )
        batch_op.alter_column('clear_name', new_column_name='name', existing_type=sa.String(length=100), nullable=False)
        batch_op.create_unique_constraint('uq_contact_group_account_id', ['account_id', 'name'])
