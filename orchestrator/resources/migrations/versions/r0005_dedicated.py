"""Intents expanded from another (an order's products) record it, so that deleting the order
deletes them. A store upgraded to this revision has no such intents yet."""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("intents", sa.Column("parent", sa.String(64), nullable=True))
    op.create_index("ix_intents_parent", "intents", ["parent"])


def downgrade() -> None:
    op.drop_index("ix_intents_parent", "intents")
    op.drop_column("intents", "parent")
