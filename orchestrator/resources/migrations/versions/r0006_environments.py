"""Environments: every target (a lab, env:production, ...) keeps its own record of what each
device was given, so nothing done in one changes another's. Environments have a description
(whether applying there needs lab evidence), and lab verifications are kept as that evidence.

A store upgraded to this revision files each device's one old record under the environment of
the transaction that wrote it (the record's digest is that transaction's id)."""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "environment_configs",
        sa.Column("environment", sa.String(256), primary_key=True),
        sa.Column("device", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("config", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
    )
    op.execute("INSERT INTO environment_configs (environment, device, kind, config, digest, updated_at) "
               "SELECT t.target, d.device, d.kind, d.config, d.digest, d.updated_at "
               "FROM device_configs d JOIN transactions t ON t.id = d.digest")
    lost = [r[0] for r in op.get_bind().execute(sa.text(
        "SELECT device FROM device_configs WHERE digest NOT IN (SELECT id FROM transactions) ORDER BY device"))]
    if lost:
        op.get_context().config.attributes.setdefault("notes", []).append(
            f"the record of {', '.join(lost)} names no transaction, so no environment: dropped; the next plan "
            f"for an environment starts from its own record (apply there, or `drift --reconcile`)")
    op.drop_table("device_configs")
    op.create_table(
        "environments",
        sa.Column("name", sa.String(256), primary_key=True),
        sa.Column("evidence", sa.String(16), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "verifications",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("bundle_id", sa.String(64), nullable=False),
        sa.Column("pinned", sa.String(64), nullable=False),
        sa.Column("configs", sa.Text(), nullable=False),
        sa.Column("environment", sa.String(256), nullable=False),
        sa.Column("topology_sha", sa.String(64), nullable=False),
        sa.Column("ok", sa.Integer(), nullable=False),
        sa.Column("checks", sa.Text(), nullable=False),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("by", sa.String(128), nullable=False),
    )
    op.create_index("ix_verifications_pinned", "verifications", ["pinned"])


def downgrade() -> None:
    op.drop_table("verifications")
    op.drop_table("environments")
    op.create_table(
        "device_configs",
        sa.Column("device", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("config", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
    )
    op.drop_table("environment_configs")
