"""A rollout's reach is per environment: a lab's waves reaching an OLT do not reach production's.
The environment joins the primary key. Each row kept is filed under its transaction's target; a
row with no transaction (an unchanged wave of an older release) keeps an empty environment, which
every environment reads, as before."""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

COLUMNS = "intent, environment, device, wave, tx, at"


def _table(name: str, keyed_by_environment: bool) -> None:
    s = sa.String
    op.create_table(name, sa.Column("intent", s(64), primary_key=True),
                    *([sa.Column("environment", s(256), primary_key=True)] if keyed_by_environment else []),
                    sa.Column("device", s(64), primary_key=True), sa.Column("wave", sa.Integer(), nullable=False),
                    sa.Column("tx", s(64), nullable=False), sa.Column("at", s(32), nullable=False))


def upgrade() -> None:
    _table("rollout_reach_new", True)
    op.execute(f"INSERT INTO rollout_reach_new ({COLUMNS}) SELECT r.intent, COALESCE(t.target, ''), r.device, "
               "r.wave, r.tx, r.at FROM rollout_reach r LEFT JOIN transactions t ON t.id = r.tx")
    op.drop_table("rollout_reach")
    op.rename_table("rollout_reach_new", "rollout_reach")


def downgrade() -> None:
    _table("rollout_reach_old", False)
    # one row per (intent, device): the earliest environment's
    op.execute("INSERT INTO rollout_reach_old (intent, device, wave, tx, at) SELECT intent, device, MIN(wave), "
               "MIN(tx), MIN(at) FROM rollout_reach GROUP BY intent, device")
    op.drop_table("rollout_reach")
    op.rename_table("rollout_reach_old", "rollout_reach")
