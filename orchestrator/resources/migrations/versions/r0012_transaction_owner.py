"""Who runs each transaction (rollout/lease.py): the owner process and the lease it renews, so
that `recover` leaves a live process's transaction alone. A transaction written before this
revision has no owner, and counts as a dead process's, as before."""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("transactions", sa.Column("owner", sa.String(300), nullable=False, server_default=""))
    op.add_column("transactions", sa.Column("lease_until", sa.String(32), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("transactions") as t:
        t.drop_column("lease_until")
        t.drop_column("owner")
