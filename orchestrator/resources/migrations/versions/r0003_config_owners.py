"""Ownership of device config (backpointers): per device and config hash, which services own
each data path, recorded by the plan that built that config so drift can name them.

A store upgraded to this revision has no rows yet: drift says ownership is unknown until the
next plan records it."""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "config_owners",
        sa.Column("device", sa.String(64), primary_key=True),
        sa.Column("config_sha", sa.String(64), primary_key=True),
        sa.Column("owners", sa.Text(), nullable=False),
        sa.Column("planned_at", sa.String(32), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("config_owners")
