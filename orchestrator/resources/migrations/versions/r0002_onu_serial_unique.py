"""An ONU serial belongs to one service: the store refuses a second one (upper-cased, the store
holds one network), even if the planner's own check had a bug."""

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
    clashes = []
    for name, spec in rows:
        serial = (json.loads(spec).get("onu") or {}).get("serial")
        if not serial:
            continue
        serial = serial.upper()
        if serial in owner:
            clashes.append(f"{serial} on {owner[serial]} and {name}")
            continue
        owner[serial] = name
        conn.execute(sa.text("UPDATE intents SET onu_serial = :s WHERE name = :n"), {"s": serial, "n": name})
    if clashes:
        from orchestrator.errors import FullbarsError

        raise FullbarsError(f"the store holds ONU serials used by two services: {'; '.join(clashes[:10])}"
                            + (f" and {len(clashes) - 10} more" if len(clashes) > 10 else ""),
                            fix="delete the younger service of each pair with the previous release "
                                "(`fullbars delete NAME`), then run the command again")
    op.create_index("uq_intents_onu_serial", "intents", ["onu_serial"], unique=True)
