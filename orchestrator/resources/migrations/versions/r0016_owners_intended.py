"""Per device of a transaction, the ownership of the config it gives the device, when the change
carried one (a bundle's, or a rollback's ownership from before). `recover`, finishing a
transaction whose process died, records the config with it: a rollback recovered kept no
ownership before. Rows of older transactions have none (empty)."""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("transaction_devices") as t:
        t.add_column(sa.Column("owners_intended", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("transaction_devices") as t:
        t.drop_column("owners_intended")
