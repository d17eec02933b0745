"""The audit trail, read: who did what, when, from where. Rows are written where things happen
(Store.audit, acting as orchestrator.acting.current()); the table refuses updates and deletes."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select

from orchestrator.app.users import require
from orchestrator.errors import FullbarsError
from orchestrator.resources.store import AuditRow

MAX_ROWS = 1000


def listing(store, actor: str | None = None, action: str | None = None, subject: str | None = None,
            since: str | None = None, limit: int = 200) -> list[dict]:
    """Newest first. action matches a prefix (`change-` gives every step of change requests);
    subject exactly (`change:7`); since: an ISO 8601 time (UTC unless it says), rows at or after it."""
    require("read")
    q = select(AuditRow).order_by(AuditRow.id.desc()).limit(max(1, min(limit, MAX_ROWS)))
    if actor:
        q = q.where(AuditRow.actor == actor)
    if action:
        q = q.where(AuditRow.action.startswith(action, autoescape=True))
    if subject:
        q = q.where(AuditRow.subject == subject)
    if since:
        q = q.where(AuditRow.at >= _utc(since))
    with store.transaction(write=False) as s:
        rows = list(s.scalars(q))
    return [{"id": r.id, "at": r.at, "actor": r.actor, "origin": r.origin, "action": r.action,
             "subject": r.subject, "detail": _detail(r.detail)} for r in rows]


def _utc(since: str) -> str:
    """since as the trail writes its times (UTC, ISO 8601), so that text order is time order: a
    time given with another offset, or none (taken as UTC), or a bare day, means the same instant."""
    try:
        t = dt.datetime.fromisoformat(since.strip())
    except ValueError:
        raise FullbarsError(f"since {since!r} is not a time", path="since",
                            fix="write an ISO 8601 time, such as 2026-12-06T09:00:00+01:00, or a day, "
                                "such as 2026-12-06 (UTC)") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return t.astimezone(dt.timezone.utc).isoformat()


def _detail(text: str):
    try:
        return json.loads(text) if text else {}
    except ValueError:
        return {"text": text}
