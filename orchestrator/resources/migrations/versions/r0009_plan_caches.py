"""The plan's caches: each device's rendered fragments per service and its whole build, keyed by
the sha256 of their inputs (orchestrator/plan/fragcache.py); the devices each service is placed
on and the services its placement looked up, with the store state they are true for. A store
upgraded to this revision has empty caches and no state: its next plan places every service and
builds what it touches in full."""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plan_fragments",
        sa.Column("device", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(64), primary_key=True),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "plan_builds",
        sa.Column("device", sa.String(64), primary_key=True),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "placed_on",
        sa.Column("service", sa.String(64), primary_key=True),
        sa.Column("device", sa.String(64), primary_key=True),
    )
    op.create_index("ix_placed_on_device", "placed_on", ["device"])
    op.create_table(
        "placement_reads",
        sa.Column("service", sa.String(64), primary_key=True),
        sa.Column("reads", sa.String(64), primary_key=True),
    )
    op.create_index("ix_placement_reads_reads", "placement_reads", ["reads"])
    op.create_table(
        "plan_state",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("plan_state")
    op.drop_index("ix_placement_reads_reads", "placement_reads")
    op.drop_table("placement_reads")
    op.drop_index("ix_placed_on_device", "placed_on")
    op.drop_table("placed_on")
    op.drop_table("plan_builds")
    op.drop_table("plan_fragments")
