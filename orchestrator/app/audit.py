"""The audit trail, read: who did what, when, from where. Rows are written where things happen
(Store.audit, acting as orchestrator.acting.current()); the table refuses updates and deletes."""

from __future__ import annotations

import json

from sqlalchemy import select

from orchestrator.app.users import require
from orchestrator.resources.store import AuditRow

MAX_ROWS = 1000


def listing(store, actor: str | None = None, action: str | None = None, subject: str | None = None,
            since: str | None = None, limit: int = 200) -> list[dict]:
    """Newest first. action matches a prefix (`change-` gives every step of change requests);
    subject exactly (`change:7`); since: an ISO 8601 UTC time, rows at or after it."""
    require("read")
    q = select(AuditRow).order_by(AuditRow.id.desc()).limit(max(1, min(limit, MAX_ROWS)))
    if actor:
        q = q.where(AuditRow.actor == actor)
    if action:
        q = q.where(AuditRow.action.startswith(action, autoescape=True))
    if subject:
        q = q.where(AuditRow.subject == subject)
    if since:
        q = q.where(AuditRow.at >= since)
    with store.transaction(write=False) as s:
        rows = list(s.scalars(q))
    return [{"id": r.id, "at": r.at, "actor": r.actor, "origin": r.origin, "action": r.action,
             "subject": r.subject, "detail": _detail(r.detail)} for r in rows]


def _detail(text: str):
    try:
        return json.loads(text) if text else {}
    except ValueError:
        return {"text": text}
