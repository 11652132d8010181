"""audit_event_subject indexed by seq (issue 12 item 3)

Pruning the access log deletes the links of the oldest events in batches by sequence number, and
``audit verify`` reads the links of each range of events: both scanned the whole table, whose
primary key starts with the subject.

Revision ID: 4fed4b918e81
Revises: 2e01a19d407d
Create Date: 2026-11-30 12:10:00
"""

from collections.abc import Sequence

from alembic import op


revision: str = '4fed4b918e81'
down_revision: str | None = '2e01a19d407d'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('audit_event_subject', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_event_subject_seq'), ['seq'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('audit_event_subject', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_event_subject_seq'))
