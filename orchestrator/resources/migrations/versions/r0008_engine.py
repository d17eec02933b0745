"""The durable engine's executors: every process that runs workflows (a `fullbars worker`, or a
command running one in-process) beats here, so the others can tell a dead one and have the
engine recover its workflows."""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "engine_executors",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("beat", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.String(32), nullable=False),
        sa.Column("beat_at", sa.String(32), nullable=False),
        sa.Column("recovered_by", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("engine_executors")
