"""The devices each service's placement left (placed_on lost them), kept until no environment's
record of the device holds the service: a plan of the service rebuilds them, though the plan
that moved it was never applied, or was applied in another environment. A store upgraded to this
revision has none: the moves planned before it are found as before (placed_on only)."""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "left_on",
        sa.Column("service", sa.String(64), primary_key=True),
        sa.Column("device", sa.String(64), primary_key=True),
    )


def downgrade() -> None:
    op.drop_table("left_on")
