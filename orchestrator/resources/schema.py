"""The store's schema, versioned with Alembic: any command brings an older store up to date in
place, under the store's write lock (two processes on a fresh store cannot both create it)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

MIGRATIONS = Path(__file__).parent / "migrations"
LAST_UNVERSIONED = "0001"  # the release before versioning: its tables, no alembic_version


def _config(conn=None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    return cfg


def head() -> str:
    return ScriptDirectory.from_config(_config()).get_current_head()


def current(conn) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def upgrade(store) -> None:
    want = head()
    with store.engine.connect() as conn:  # the usual case, no lock: already current
        if current(conn) == want:
            return
    with store.transaction() as s:
        conn = s.connection()
        was = current(conn)
        if was == want:
            return  # another process upgraded it while we waited
        cfg = _config(conn)
        if was is None and inspect(conn).has_table("intents"):
            command.stamp(cfg, LAST_UNVERSIONED)
            was = LAST_UNVERSIONED
        command.upgrade(cfg, "head")
        if was is not None:
            store.lock.say(f"upgraded the store's schema from revision {was} to {want} ({store.shown})")
        for note in cfg.attributes.get("notes", []):
            store.lock.say(f"warning: {note}")
