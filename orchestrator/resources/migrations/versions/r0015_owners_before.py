"""Per device of a transaction, the ownership of the config the store recorded for it when the
transaction began (which services own each part). A rollback gives the device back what it ran
then, read from it: with no ownership recorded for that text, status, drift and later plans could
not say whose it was. Rows of older transactions have none (empty): their rollbacks are as before."""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("transaction_devices") as t:
        t.add_column(sa.Column("owners_before", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("transaction_devices") as t:
        t.drop_column("owners_before")
