"""The ONU serials that services expect at sites of their own (a dedicated line's PON sites) are
held as allocations (pool `onu-serial`, one value each), where a business line's check finds them
by value instead of reading every such service: each stored one gets its rows here, as its next
placement would hold them."""

import json

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

POOL = "onu-serial"


def upgrade() -> None:
    bind = op.get_bind()
    held = {tuple(r) for r in bind.execute(sa.text("SELECT pool, value FROM allocations WHERE pool = :p"), {"p": POOL})}
    rows = []
    for name, spec in bind.execute(sa.text("SELECT name, spec FROM intents WHERE kind = 'DedicatedLine'")):
        for site in json.loads(spec).get("site", []):
            serial = (site.get("pon") or {}).get("onu-serial")
            if serial and (POOL, serial.upper()) not in held:
                held.add((POOL, serial.upper()))
                rows.append({"pool": POOL, "value": serial.upper(), "owner": name, "purpose": f"{POOL}:{site['name']}"})
    if rows:
        bind.execute(sa.text("INSERT INTO allocations (pool, value, owner, purpose) VALUES "
                             "(:pool, :value, :owner, :purpose)"), rows)


def downgrade() -> None:
    op.execute(sa.text(f"DELETE FROM allocations WHERE pool = '{POOL}'"))
