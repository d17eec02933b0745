"""Take one device back to the config it had before a transaction, or forward to the one the
transaction gave it, and say how, from what running reads back (never from an <ok/> alone)."""

from __future__ import annotations

from lxml import etree

from orchestrator.devices.registry import KINDS
from orchestrator.models.schema_index import schema_index
from orchestrator.netconf.compare import missing
from orchestrator.netconf.session import CONFIRMED, Session
from orchestrator.plan.diff import edits


class NotReverted(Exception):
    """The device answers but does not run the config it was to be taken back to."""


def differs(kind: str, live_xml: str, want_xml: str) -> bool:
    """Does the device's running config differ from want, node by node, canonically (the same
    comparison as drift and the minimal edit)?"""
    return edits(schema_index(KINDS.get(kind).models), live_xml, want_xml)[2]


def runs_new(kind: str, live_xml: str, intended: str, before: str) -> bool:
    """Does the device run the transaction's config? Every intended value is there (as the
    verify step reads it back: an agent may add defaults of its own) and it is not simply back
    at the config from before (which catches a change that only deletes)."""
    if missing(intended, etree.fromstring(live_xml.encode())):
        return False
    back = bool(before) and not differs(kind, live_xml, before) and differs(kind, before, intended)
    return not back


def _edit_to(sess: Session, kind: str, live: str, want: str, locked: bool) -> None:
    edit, _, changed = edits(schema_index(KINDS.get(kind).models), live, want)
    if not changed:
        return
    if not locked:
        sess.lock()
    try:
        sess.edit(edit)
        sess.commit()
    finally:
        if not locked:
            sess.unlock()


def revert(sess: Session, kind: str, before: str, persist_id: str, locked: bool = False) -> str:
    """Back to `before`: cancel the transaction's confirmed commit if the device still holds it,
    else (or when the cancel reverted nothing, as netconfd may) an edit computed from what the
    device runs now. Returns how it got there; raises NotReverted if running still differs."""
    cancelled = False
    if sess.strategy == CONFIRMED:
        try:
            sess.cancel(persist_id)
            cancelled = True
        except Exception:
            pass  # no such commit pending: it timed out, was never made, or the agent restarted
    live = sess.running_xml()
    if not differs(kind, live, before):
        return "reverted by cancel-commit" if cancelled else "already old (reverted by its confirm timeout or restart, or never committed)"
    _edit_to(sess, kind, live, before, locked)
    if differs(kind, sess.running_xml(), before):
        raise NotReverted("running still differs from the config before the transaction after the reverse edit")
    return "reverted by reverse edit" + (" (cancel-commit answered <ok/> and reverted nothing)" if cancelled else "")


def confirm(sess: Session, kind: str, intended: str, before: str, persist_id: str) -> str | None:
    """Forward: confirm the transaction's pending commit. Returns how, or None when the device no
    longer runs the intended config (it reverted by itself): the caller must then undo the rest."""
    confirmed = False
    try:
        sess.commit(persist_id=persist_id)
        confirmed = True
    except Exception:
        pass  # nothing pending any more: already confirmed, or reverted
    if not runs_new(kind, sess.running_xml(), intended, before):
        return None
    return "confirmed" if confirmed else "already confirmed"
