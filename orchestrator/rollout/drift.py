"""check-sync: does each device run what fullbars last gave it? Differences are reported with
device, path and the service that owns the path; reconcile gives the intended config back."""

from __future__ import annotations

from lxml import etree

from orchestrator.devices.registry import KINDS
from orchestrator.netconf.session import Session, rpc_error_text
from orchestrator.plan.diff import NC, edits, schema_index
from orchestrator.resources.store import Store

OP = f"{NC}operation"


def _changes(edit_xml: str, index) -> list[tuple[str, str]]:
    """(path, what) for every leaf the edit sets and every node it deletes; list entries are
    named by their keys, from the device kind's schema."""
    out = []

    def walk(el, path, spath, ns):
        sp, cns = index.step(spath, ns, el)
        _, keys = index.node(sp)
        key_els = [c for c in el if isinstance(c.tag, str) and etree.QName(c).localname in keys]
        p = f"{path}/{etree.QName(el).localname}" + "".join(
            f"[{etree.QName(k).localname}='{(k.text or '').strip()}']" for k in key_els)
        if el.get(OP) == "delete":
            out.append((p, "present on the device, not intended"))
            return
        kids = [c for c in el if isinstance(c.tag, str) and c not in key_els]
        if not kids and not key_els:
            out.append((p, f"intended {(el.text or '').strip()!r}"))
        for c in kids:
            walk(c, p, sp, cns)

    root = etree.fromstring(edit_xml.encode())
    for top in root:
        if isinstance(top.tag, str):
            walk(top, "", "", None)
    return out


def _owner(path: str, services: list[str]) -> str:
    hits = [s for s in services if s in path]
    return max(hits, key=len) if hits else "no single service (the device base, or a profile services share)"


def check(store: Store, target) -> list[dict]:
    with store.transaction() as s:
        rows = Store.device_configs(s)
        services = list(Store.intents(s))
    out = []
    for dev, row in sorted(rows.items()):
        if dev not in target.endpoints:
            continue
        try:
            sess = Session(target.endpoint(dev), row.kind, row.config)
            live = sess.running_xml()
            sess.close()
        except Exception as e:
            out.append({"device": dev, "error": f"cannot read running: {rpc_error_text(e)}", "differences": []})
            continue
        index = schema_index(KINDS.get(row.kind).models)
        edit, _, changed = edits(index, live, row.config)
        diffs = [{"path": p, "what": w, "service": _owner(p, services)} for p, w in _changes(edit, index)] if changed else []
        out.append({"device": dev, "kind": row.kind, "in_sync": not changed, "differences": diffs,
                    "intended": row.config})
    return out
