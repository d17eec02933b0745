"""An ONU serial belongs to one service: the store refuses a second one (upper-cased, the store
holds one network), even if the planner's own check had a bug.

A store the unlocked releases let two services claim one ONU in keeps both services; the younger
one's serial is left out of the constraint and named in a note, so `fullbars delete` can fix it."""

import json

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("intents", sa.Column("onu_serial", sa.String(16), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT name, spec FROM intents ORDER BY created_at, name")).all()
    owner: dict[str, str] = {}
    notes = op.get_context().config.attributes.setdefault("notes", [])
    for name, spec in rows:
        serial = (json.loads(spec).get("onu") or {}).get("serial")
        if not serial:
            continue
        serial = serial.upper()
        if serial in owner:
            notes.append(f"ONU serial {serial} is on two services, {owner[serial]} and {name}: "
                         f"`fullbars delete {name}` (or {owner[serial]}) so one line keeps the ONU")
            continue
        owner[serial] = name
        conn.execute(sa.text("UPDATE intents SET onu_serial = :s WHERE name = :n"), {"s": serial, "n": name})
    op.create_index("ix_intents_onu_serial", "intents", ["onu_serial"], unique=True)
