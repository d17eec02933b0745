"""Indexes for what every plan reads, each of which without its index reads a whole table: the
intents' latest update (the store state placements depend on, Store.placement_state), the few
overlays of a kind (a SpeedUpgrade, an ArrearsGrace), and the newest committed transaction's
audit row (Store.newest_applied: the trail only grows)."""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_intents_updated_at", "intents", ["updated_at"])
    op.create_index("ix_intents_kind", "intents", ["kind"])
    op.create_index("ix_audit_subject", "audit", ["subject"])


def downgrade() -> None:
    op.drop_index("ix_audit_subject", table_name="audit")
    op.drop_index("ix_intents_kind", table_name="intents")
    op.drop_index("ix_intents_updated_at", table_name="intents")
