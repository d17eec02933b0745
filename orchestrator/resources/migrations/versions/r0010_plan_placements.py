"""Each service's last placement as a plan shows it, packed with its sha256 (plan/recall.py): a
plan given only what the last plan was given, on the store as that plan left it, is recalled
from it and the kept builds instead of being placed and built again. A store upgraded to this
revision has none: its next plan runs in full and fills it."""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plan_placements",
        sa.Column("service", sa.String(64), primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("plan_placements")
