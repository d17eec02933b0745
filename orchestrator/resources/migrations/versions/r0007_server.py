"""The API's people and their changes: users with roles (passwords as argon2 hashes), API and
session tokens (sha256 of the token, never the token), change requests with the state of each
device of their rollout, and an audit trail that says who did it and from where. The audit table
becomes append-only: the database itself refuses to update or delete a row."""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

APPEND_ONLY = {  # per dialect: statements that make the audit table refuse UPDATE and DELETE
    "sqlite": ["CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN "
               "SELECT RAISE(ABORT, 'the audit trail is append-only'); END",
               "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN "
               "SELECT RAISE(ABORT, 'the audit trail is append-only'); END"],
    "postgresql": ["CREATE FUNCTION audit_append_only() RETURNS trigger AS $$ BEGIN "
                   "RAISE EXCEPTION 'the audit trail is append-only'; END $$ LANGUAGE plpgsql",
                   "CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit "
                   "FOR EACH ROW EXECUTE FUNCTION audit_append_only()"],
}
DROP = {"sqlite": ["DROP TRIGGER audit_no_update", "DROP TRIGGER audit_no_delete"],
        "postgresql": ["DROP TRIGGER audit_append_only ON audit", "DROP FUNCTION audit_append_only()"]}


def upgrade() -> None:
    op.add_column("audit", sa.Column("actor", sa.String(128), nullable=False, server_default=""))
    op.add_column("audit", sa.Column("origin", sa.String(128), nullable=False, server_default=""))
    op.create_index("ix_audit_actor", "audit", ["actor"])
    op.create_table(
        "users",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("roles", sa.String(128), nullable=False),  # space-separated
        sa.Column("password_hash", sa.Text(), nullable=False),  # argon2id; empty: no password login
        sa.Column("disabled", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "api_tokens",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("user", sa.String(64), nullable=False, index=True),
        sa.Column("kind", sa.String(16), nullable=False),  # api | session
        sa.Column("label", sa.String(128), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("expires_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "change_requests",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("title", sa.String(256), nullable=False),
        sa.Column("submitter", sa.String(64), nullable=False),
        sa.Column("target", sa.String(256), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("bundle_dir", sa.Text(), nullable=False),
        sa.Column("bundle_id", sa.String(64), nullable=False),
        sa.Column("intents", sa.Text(), nullable=False),  # JSON: file name → YAML text
        sa.Column("verification_id", sa.Integer(), nullable=True),
        sa.Column("approver", sa.String(64), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "change_devices",
        sa.Column("change_id", sa.Integer(), primary_key=True),
        sa.Column("device", sa.String(64), primary_key=True),
        sa.Column("wave", sa.Integer(), nullable=False),
        sa.Column("tx", sa.String(64), nullable=False),
    )
    for stmt in APPEND_ONLY.get(op.get_bind().dialect.name, []):
        op.execute(stmt)


def downgrade() -> None:
    for stmt in DROP.get(op.get_bind().dialect.name, []):
        op.execute(stmt)
    op.drop_table("change_devices")
    op.drop_table("change_requests")
    op.drop_table("api_tokens")
    op.drop_table("users")
    op.drop_index("ix_audit_actor", "audit")
    op.drop_column("audit", "origin")
    op.drop_column("audit", "actor")
