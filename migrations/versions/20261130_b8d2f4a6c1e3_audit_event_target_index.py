"""audit_event indexed by its target (issue 13)

The auditor finds a data-subject request's events by its reference, the target
(``subject_request``, ``DSR-2026-0001``) every search, export and erasure of the request carries;
without an index that read every event of the account.

Revision ID: b8d2f4a6c1e3
Revises: 740a7a4c0a80
Create Date: 2026-11-30 14:25:00
"""

from collections.abc import Sequence

from alembic import op


revision: str = 'b8d2f4a6c1e3'
down_revision: str | None = '740a7a4c0a80'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.create_index('ix_audit_event_target', ['target_type', 'target_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_event_target')
