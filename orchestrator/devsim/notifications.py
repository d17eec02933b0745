"""RFC 5277 event notifications on the NETCONF stream, with RFC 6470's netconf-config-change
sent to every subscribed session when running (commit, confirmed-commit revert) or startup
changes. No replay: a subscription starts now."""

from __future__ import annotations

import datetime as dt

from lxml import etree

from orchestrator.devsim import filters
from orchestrator.devsim.device import empty
from orchestrator.devsim.edit import _path
from orchestrator.devsim.errorpath import netconf_path
from orchestrator.devsim.rpcerror import NC, RpcError
from orchestrator.models.schema_index import identity

NOTIF = "urn:ietf:params:xml:ns:netconf:notification:1.0"
NCN = "urn:ietf:params:xml:ns:yang:ietf-netconf-notifications"
CAPABILITIES = ("urn:ietf:params:netconf:capability:notification:1.0",
                "urn:ietf:params:netconf:capability:interleave:1.0")
PARAMS = ("stream", "filter", "startTime", "stopTime")


def _changes(index, old, new, spath="", ns=None, dpath="", out=None) -> list[tuple[str, str]]:
    """(data path, operation) of each node created, deleted or given another value, topmost only."""
    out = [] if out is None else out
    before = {identity(index, index.step(spath, ns, e)[0], e): e for e in old if isinstance(e.tag, str)}
    after = {identity(index, index.step(spath, ns, e)[0], e): e for e in new if isinstance(e.tag, str)}
    for key, e in after.items():
        sp, cns = index.step(spath, ns, e)
        here = _path(dpath + "/" + sp.rsplit("/", 1)[1], e, index)
        was = before.get(key)
        if was is None:
            out.append((here, "create"))
        elif len(e) or len(was):
            _changes(index, was, e, sp, cns, here, out)
        elif (e.text or "").strip() != (was.text or "").strip():
            out.append((here, "replace"))
    for key, e in before.items():
        if key not in after:
            sp, _ = index.step(spath, ns, e)
            out.append((_path(dpath + "/" + sp.rsplit("/", 1)[1], e, index), "delete"))
    return out


def config_change(device, datastore: str, roots, session) -> None:
    """Tell each subscribed session of `device` what changed in `datastore` (roots(): the old
    and the new root, asked for only when a session listens)."""
    listeners = [s for s in device.sessions.values() if getattr(s, "subscription", None) is not None]
    if not listeners:
        return
    old, new = roots()
    edits = []
    for path, operation in _changes(device.index, old, new):
        xpath, nsmap = netconf_path(device.index, path)
        decl = "".join(f' xmlns:{p}="{u}"' for p, u in nsmap.items())
        edits.append(f"<edit><target{decl}>{_esc(xpath)}</target>"
                     f"<operation>{operation}</operation></edit>")
    by = ("<server/>" if session is None else
          f"<username>{_esc(session.username)}</username><session-id>{session.id}</session-id>"
          f"<source-host>{_esc(session.peer)}</source-host>")
    event = (f'<netconf-config-change xmlns="{NCN}"><changed-by>{by}</changed-by>'
             f"<datastore>{datastore}</datastore>{''.join(edits)}</netconf-config-change>")
    when = dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")
    for s in listeners:
        flt = s.subscription
        if flt is not None and len(flt):
            holder, out = etree.fromstring(f"<x>{event}</x>"), empty()
            filters.subtree(holder, flt, out)
            if not len(out):
                continue
        s.send_notification(f'<notification xmlns="{NOTIF}"><eventTime>{when}</eventTime>{event}</notification>')


def _esc(text: str) -> str:
    from xml.sax.saxutils import escape

    return escape(text)


def op_create_subscription(s, op):
    q = f"{{{NOTIF}}}"
    if getattr(s, "subscription", None) is not None:
        raise RpcError("in-use", "this session already has a subscription (RFC 5277 allows one)", type="protocol")
    stream = (op.findtext(f"{q}stream") or "NETCONF").strip()
    if stream != "NETCONF":
        raise RpcError("invalid-value", f"no stream {stream!r}; this device has NETCONF", type="protocol",
                       info={"bad-element": "stream"})
    for what in ("startTime", "stopTime"):
        if op.find(f"{q}{what}") is not None:
            raise RpcError("operation-failed", f"{what}: this device keeps no replay log", type="protocol",
                           info={"bad-element": what})
    # RFC 5277 puts filter in its own namespace; ncclient and others send the base one
    flt = op.find(f"{q}filter") if op.find(f"{q}filter") is not None else op.find(f"{{{NC}}}filter")
    if flt is not None and flt.get("type", "subtree") != "subtree":
        raise RpcError("invalid-value", "only subtree filters select notifications here", type="protocol",
                       info={"bad-element": "filter"})
    s.subscription = flt if flt is not None else empty()  # an empty filter lets every event through
