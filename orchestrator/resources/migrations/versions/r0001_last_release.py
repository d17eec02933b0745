"""The schema of the last release before schema versioning (main at 7a50d65): a store without an
alembic_version table holds exactly this and is stamped with this revision.

Kept as literal DDL, not imported from store.py, so later model changes cannot alter history."""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    s, t, i = sa.String, sa.Text, sa.Integer
    op.create_table("intents", sa.Column("name", s(64), primary_key=True), sa.Column("kind", s(64), nullable=False),
                    sa.Column("spec", t, nullable=False), sa.Column("digest", s(64), nullable=False),
                    sa.Column("source", t, nullable=False), sa.Column("created_at", s(32), nullable=False),
                    sa.Column("updated_at", s(32), nullable=False))
    op.create_table("allocations", sa.Column("id", i, primary_key=True, autoincrement=True),
                    sa.Column("pool", s(128), nullable=False), sa.Column("value", s(64), nullable=False),
                    sa.Column("owner", s(64), nullable=False), sa.Column("purpose", s(64), nullable=False),
                    sa.UniqueConstraint("pool", "value"), sa.UniqueConstraint("owner", "purpose"))
    op.create_index("ix_allocations_pool", "allocations", ["pool"])
    op.create_index("ix_allocations_owner", "allocations", ["owner"])
    op.create_table("network", sa.Column("id", i, primary_key=True), sa.Column("source", t, nullable=False),
                    sa.Column("text", t, nullable=False), sa.Column("digest", s(64), nullable=False),
                    sa.Column("updated_at", s(32), nullable=False))
    op.create_table("device_configs", sa.Column("device", s(64), primary_key=True),
                    sa.Column("kind", s(64), nullable=False), sa.Column("config", t, nullable=False),
                    sa.Column("digest", s(64), nullable=False), sa.Column("updated_at", s(32), nullable=False))
    op.create_table("transactions", sa.Column("id", s(64), primary_key=True),
                    sa.Column("created_at", s(32), nullable=False), sa.Column("updated_at", s(32), nullable=False),
                    sa.Column("target", s(256), nullable=False), sa.Column("kind", s(32), nullable=False),
                    sa.Column("state", s(32), nullable=False), sa.Column("summary", t, nullable=False),
                    sa.Column("report", t, nullable=False))
    op.create_table("transaction_devices", sa.Column("tx", s(64), primary_key=True),
                    sa.Column("device", s(64), primary_key=True), sa.Column("kind", s(64), nullable=False),
                    sa.Column("state", s(32), nullable=False), sa.Column("strategy", s(32), nullable=False),
                    sa.Column("before", t, nullable=False), sa.Column("intended", t, nullable=False),
                    sa.Column("reverse", t, nullable=False), sa.Column("error", t, nullable=False))
    op.create_table("audit", sa.Column("id", i, primary_key=True, autoincrement=True),
                    sa.Column("at", s(32), nullable=False), sa.Column("action", s(32), nullable=False),
                    sa.Column("subject", t, nullable=False), sa.Column("detail", t, nullable=False))
    op.create_table("rollout_reach", sa.Column("intent", s(64), primary_key=True),
                    sa.Column("device", s(64), primary_key=True), sa.Column("wave", i, nullable=False),
                    sa.Column("tx", s(64), nullable=False), sa.Column("at", s(32), nullable=False))
    op.create_table("suspensions", sa.Column("id", i, primary_key=True, autoincrement=True),
                    sa.Column("line", s(64), nullable=False), sa.Column("reason", s(32), nullable=False),
                    sa.Column("state", s(16), nullable=False), sa.Column("policy", s(64), nullable=False),
                    sa.Column("due", s(32), nullable=False), sa.Column("asked_at", s(32), nullable=False),
                    sa.Column("done_at", s(32), nullable=False), sa.Column("tx", s(64), nullable=False))
    op.create_index("ix_suspensions_line", "suspensions", ["line"])
