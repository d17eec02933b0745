"""Deletes and rollbacks that are whole: a service's removal is pending until applied
(pending_removals), and each committed transaction records each service's state before and after
it (transaction_services), so a rollback returns the services as well as the devices.

A store upgraded to this revision has no rows yet: transactions committed before it cannot give
their services back (rollback says so and leaves them)."""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pending_removals",
        sa.Column("service", sa.String(64), primary_key=True),
        sa.Column("devices", sa.Text(), nullable=False),
        sa.Column("planned_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "transaction_services",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("tx", sa.String(64), nullable=False),
        sa.Column("service", sa.String(64), nullable=False),
        sa.Column("before", sa.Text(), nullable=False),
        sa.Column("after", sa.Text(), nullable=False),
        sa.UniqueConstraint("tx", "service"),
    )
    op.create_index("ix_transaction_services_tx", "transaction_services", ["tx"])
    op.create_index("ix_transaction_services_service", "transaction_services", ["service"])


def downgrade() -> None:
    op.drop_table("transaction_services")
    op.drop_table("pending_removals")
